"""CIBA Core: the user's decision on a backchannel authentication request, and what follows it.

The user decides on an authentication device: the approval page (``/ciba``, the signed-in
user's pending requests) or the device app the webhook told (``backchannel_devices``), which
posts its one-time decision token back. A request is decided once, however many replicas
and devices answer (``BackchannelRequestStore.decide``); only the call that decided it queues
the ping of a ping-mode client (§10.2), so each request is pinged once (the job queue hands
each job to one worker, and retries it until the client answers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import httpx
import structlog

from tokend.core.clock import Clock
from tokend.core.crypto import DecryptionFailed, FieldCipher, SecretHasher
from tokend.core.errors import InvalidGrant
from tokend.core.http import GuardedClient, OutboundRefused
from tokend.jobs.base import Jobs
from tokend.oidc.backchannel_authentication import notification_aad
from tokend.oidc.records import BackchannelRequest, TokenDeliveryMode
from tokend.oidc.stores import BackchannelRequestStore, ClientStore

log = structlog.get_logger("tokend.oidc.ciba")

#: §10.2: POSTs ``{"auth_req_id": ...}`` to a ping-mode client once its request is decided.
PING_JOB: Final = "oidc.ciba_ping"
#: The shape of a request's public id (``random_id("cb_")``): anything else names none.
REQUEST_ID: Final = re.compile(r"^cb_[A-Za-z0-9_-]{1,60}$")


class PingFailed(Exception):
    """The client's notification endpoint did not take the ping: the job is retried."""


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """What the approval page shows of one request."""

    id: str
    client_name: str
    scopes: tuple[str, ...]
    binding_message: str | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class BackchannelDecisions:
    store: BackchannelRequestStore
    clients: ClientStore
    hasher: SecretHasher = field(repr=False)
    cipher: FieldCipher = field(repr=False)
    jobs: Jobs
    clock: Clock
    http: GuardedClient
    delivery_timeout_s: float = 10.0

    async def pending_for(self, user_id: str) -> list[PendingRequest]:
        """The user's pending requests, with the names of the clients that sent them."""
        shown = []
        for request in await self.store.pending_of(user_id, self.clock.now()):
            client = await self.clients.get(request.client_id)
            if client is None or client.disabled:
                continue
            shown.append(
                PendingRequest(
                    request.id,
                    client.name,
                    tuple(sorted(request.scopes)),
                    request.binding_message,
                    request.expires_at,
                )
            )
        return shown

    async def decide(
        self, request_id: str, user_id: str, approve: bool, amr: Sequence[str] = ()
    ) -> bool:
        """The user's answer to one of their pending requests (the approval page: ``amr``
        of their session); whether it decided the request (False: decided before, expired,
        or not theirs). An approval is an authentication now (the ID token's auth_time)."""
        if not REQUEST_ID.match(request_id):
            return False
        now = self.clock.now()
        decided = await self.store.decide(request_id, user_id, approve, now, amr, now)
        if decided is None:
            return False
        await self._decided(decided)
        return True

    async def decide_by_token(self, decision_token: str, approve: bool) -> None:
        """The device app's answer, with the one-time decision token the webhook sent it;
        InvalidGrant when the token is unknown, used, or its request expired."""
        found = await self.store.by_decision_token(
            self.hasher.candidates(decision_token), self.clock.now()
        )
        if found is None or not await self.decide(found.id, found.user_id, approve):
            raise InvalidGrant("the decision token is invalid, was used, or its request expired")

    async def _decided(self, request: BackchannelRequest) -> None:
        log.info(
            "ciba.decided",
            request_id=request.id,
            client_id=request.client_id,
            user_id=request.user_id,
            status=request.status.value,
        )
        if request.delivery_mode is TokenDeliveryMode.PING:
            await self.jobs.enqueue(PING_JOB, request_id=request.id)

    async def ping(self, request_id: str) -> None:
        """The job (§10.2): POST the auth_req_id to the client's notification endpoint with
        its notification token as the bearer token; PingFailed when it must be retried."""
        request = await self.store.get(request_id)
        if request is None or request.notification_enc is None:
            return  # purged since (expired): nothing the client could still redeem
        client = await self.clients.get(request.client_id)
        endpoint = client.backchannel_client_notification_endpoint if client else None
        if endpoint is None:
            return  # deleted, or no longer registered for ping
        try:
            secret = json.loads(
                self.cipher.decrypt_text(request.notification_enc, aad=notification_aad(request.id))
            )
        except (DecryptionFailed, ValueError):
            log.warning("ciba.ping_undecryptable", request_id=request.id)
            return
        try:
            response = await self.http.post(
                endpoint,
                json={"auth_req_id": secret["auth_req_id"]},
                headers={"Authorization": f"Bearer {secret['token']}"},
                timeout=self.delivery_timeout_s,
            )
        except OutboundRefused as exc:
            # The outbound policy refuses the endpoint: retrying cannot help; the client
            # still gets its answer by polling (§10.2 allows it).
            log.warning("ciba.ping_refused", request_id=request.id, reason=str(exc))
            return
        except httpx.HTTPError as exc:
            raise PingFailed(f"{request.client_id}: {type(exc).__name__}") from None
        # §10.2: the client answers 204 No Content (any 2xx is taken).
        if not 200 <= response.status_code < 300:
            raise PingFailed(f"{request.client_id}: HTTP {response.status_code}")
        log.info("ciba.pinged", request_id=request.id, client_id=request.client_id)

    async def purge(self) -> int:
        return await self.store.purge(self.clock.now())
