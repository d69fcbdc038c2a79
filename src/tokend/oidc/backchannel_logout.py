"""OpenID Connect Back-Channel Logout 1.0: when a browser session ends, each client that got an
ID token in it (and registered a ``backchannel_logout_uri``) is sent a signed logout token, as a
background job with retries, through the guarded outbound client.

:meth:`BackchannelLogout.session_ended` is the one entry point: RP-initiated logout, the admin
API (a new password, a disabled or deleted user) and a password reset call it. Which clients to
notify is claimed from the database atomically, so each is notified once, however many replicas
end the same session; the job queue hands each job to one worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

import httpx
import structlog

from tokend.core.clock import Clock
from tokend.core.crypto import random_id
from tokend.core.http import GuardedClient
from tokend.core.jwt import SigningKey, mint
from tokend.jobs.base import Jobs
from tokend.oidc.stores import ClientStore, LogoutSessionStore

log = structlog.get_logger("tokend.oidc.backchannel_logout")

BACKCHANNEL_LOGOUT_JOB: Final = "oidc.backchannel_logout"
#: §2.4: the event a logout token carries.
LOGOUT_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL_S: Final = 120
DELIVERY_TIMEOUT_S: Final = 10.0


class DeliveryFailed(Exception):
    """The client did not answer 200 (§2.8): the job is retried."""


@dataclass(frozen=True, slots=True)
class BackchannelLogout:
    sessions: LogoutSessionStore
    clients: ClientStore
    jobs: Jobs
    signing_key: Callable[[], SigningKey] = field(repr=False)
    issuer: str
    clock: Clock
    http: GuardedClient

    async def remember(self, sid: str | None, client_id: str, user_id: str) -> None:
        """An ID token with ``sid`` went to ``client_id``: notify it when the session ends."""
        if sid is not None:
            await self.sessions.remember(sid, client_id, user_id, self.clock.now())

    async def session_ended(self, user_id: str, sid: str | None = None) -> int:
        """The user's session ``sid`` ended (None: all of the user's sessions, e.g. a new
        password or a disabled account); queue one logout per client to notify. How many."""
        queued = 0
        for claimed_sid, client_id in await self.sessions.claim(user_id, sid):
            client = await self.clients.get(client_id)
            if client is None or client.backchannel_logout_uri is None:
                continue
            await self.jobs.enqueue(
                BACKCHANNEL_LOGOUT_JOB, client_id=client_id, user_id=user_id, sid=claimed_sid
            )
            queued += 1
        return queued

    def logout_token(self, client_id: str, user_id: str, sid: str) -> str:
        """§2.4: a signed JWT (typ ``logout+jwt``) with sub and sid, never a nonce."""
        now = self.clock.now()
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=LOGOUT_TOKEN_TTL_S)).timestamp()),
            "jti": random_id(),
            "sub": user_id,
            "sid": sid,
            "events": {LOGOUT_EVENT: {}},
        }
        return mint(claims, self.signing_key(), typ="logout+jwt")

    async def deliver(self, client_id: str, user_id: str, sid: str) -> None:
        """The job: POST the logout token (§2.5); raises DeliveryFailed so it is retried."""
        client = await self.clients.get(client_id)
        if client is None or client.backchannel_logout_uri is None:
            return  # deleted, or the URI removed since: nobody to tell
        token = self.logout_token(client_id, user_id, sid)
        try:
            response = await self.http.post(
                client.backchannel_logout_uri,
                data={"logout_token": token},
                timeout=DELIVERY_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{client_id}: {type(exc).__name__}") from None
        if response.status_code not in (200, 204):
            raise DeliveryFailed(f"{client_id}: HTTP {response.status_code}")
        log.info("backchannel_logout.delivered", client_id=client_id, user_id=user_id)
