"""CIBA authentication devices (``backchannel_authentication.AuthenticationDevice``): how a new
request reaches the user. The approval page needs no channel (it lists pending requests when
the user opens it); the device app is told by a signed webhook.

The webhook (``oidc.ciba.device_webhook_url``) is POSTed JSON naming the request, the user,
the client, the binding message, the scopes and the expiry, plus a one-time decision token the
app posts back to ``/backchannel-authentication/decisions`` with the user's answer. The body is
signed like every tokend webhook (``core.webhook_signature``: ``Tokend-Signature``, HMAC-SHA256
with ``oidc.ciba.device_webhook_secret``). It is sent as a background job with retries through
the guarded client; the job carries only the request id, and each attempt mints a new decision
token (the store keeps its hash; the one before stops working), so no secret sits in the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

import httpx
import structlog
from pydantic import SecretStr

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_secret
from tokend.core.http import GuardedClient, OutboundRefused
from tokend.core.webhook_signature import SIGNATURE_HEADER, sign
from tokend.jobs.base import Jobs
from tokend.oidc.records import BackchannelRequest
from tokend.oidc.stores import BackchannelRequestStore, ClientStore

log = structlog.get_logger("tokend.oidc.ciba")

DEVICE_WEBHOOK_JOB: Final = "oidc.ciba_device_webhook"
#: The ``type`` of the webhook's body.
REQUESTED_EVENT: Final = "ciba.authentication_requested"


class DeviceWebhookFailed(Exception):
    """The device app did not take the request: the job is retried."""


@dataclass(frozen=True, slots=True)
class DeviceWebhook:
    """The user's device app, told of each request by a signed webhook."""

    url: str
    secret: SecretStr = field(repr=False)
    store: BackchannelRequestStore
    clients: ClientStore
    hasher: SecretHasher = field(repr=False)
    jobs: Jobs
    clock: Clock
    http: GuardedClient
    issuer: str
    timeout_s: float = 10.0

    async def request_started(self, request: BackchannelRequest) -> None:
        await self.jobs.enqueue(DEVICE_WEBHOOK_JOB, request_id=request.id)

    async def deliver(self, request_id: str) -> None:
        """The job: a new decision token for the still pending request, POSTed signed."""
        request = await self.store.get(request_id)
        if request is None:
            return
        client = await self.clients.get(request.client_id)
        decision_token = random_secret(32)
        now = self.clock.now()
        if not await self.store.set_decision_token(
            request.id, self.hasher.hash(decision_token), now
        ):
            return  # decided (on the page) or expired meanwhile: nothing to ask
        event = {
            "type": REQUESTED_EVENT,
            "request_id": request.id,
            "user_id": request.user_id,
            "client_id": request.client_id,
            "client_name": client.name if client is not None else request.client_id,
            "binding_message": request.binding_message,
            "scopes": sorted(request.scopes),
            "expires_at": int(request.expires_at.timestamp()),
            "decision_token": decision_token,
            "decision_uri": f"{self.issuer}/backchannel-authentication/decisions",
        }
        body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret.get_secret_value(), int(now.timestamp()), body),
        }
        try:
            response = await self.http.post(
                self.url, content=body, headers=headers, timeout=self.timeout_s
            )
        except OutboundRefused as exc:
            # The outbound policy refuses the webhook: retrying cannot help; the approval
            # page (if served) still lists the request.
            log.warning("ciba.device_webhook_refused", request_id=request.id, reason=str(exc))
            return
        except httpx.HTTPError as exc:
            raise DeviceWebhookFailed(f"{type(exc).__name__} posting the request") from None
        if not 200 <= response.status_code < 300:
            raise DeviceWebhookFailed(f"the device webhook answered {response.status_code}")
        log.info("ciba.device_notified", request_id=request.id, user_id=request.user_id)
