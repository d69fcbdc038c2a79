"""Revoking whole grants: their refresh and opaque access tokens in the provider's store, their
JWT access tokens on the deny-list every surface reads (``core.revocations``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from tokend.core.clock import Clock
from tokend.core.revocations import Revocations
from tokend.oidc.settings import CLIENT_TOKEN_TTL_MAX_S
from tokend.oidc.stores import RefreshStore


def client_grant_id(client_id: str) -> str:
    """The grant a client's own ``client_credentials`` tokens belong to (their ``gid``): one
    per client, so deleting the client denies them all at once (RFC 7592 §2.3). A digest of
    the id keeps it within the 64 characters grant ids are stored in; random grant ids have no
    colon, so it names no user's grant."""
    return "client:" + hashlib.sha256(client_id.encode()).hexdigest()[:40]


def tokens_expire_by(now: datetime) -> datetime:
    """When every access token issued until ``now`` has expired: both
    ``oidc.access_token_ttl_s`` and a client's own lifetime are capped at
    ``CLIENT_TOKEN_TTL_MAX_S`` (settings.py), so a grant's denial lasts that long."""
    return now + timedelta(seconds=CLIENT_TOKEN_TTL_MAX_S)


@dataclass(frozen=True, slots=True)
class GrantRevoker:
    """Revokes whole grants: their refresh and opaque access tokens in the store, their JWT
    access tokens on the deny-list."""

    refresh: RefreshStore
    revocations: Revocations
    clock: Clock

    async def revoke(self, grant_id: str) -> None:
        """Revoke every token of the grant; raises ``TemporarilyUnavailable`` when its JWT
        access tokens could not be denied."""
        now = self.clock.now()
        await self.refresh.revoke_grant(grant_id, now)
        await self.revocations.revoke_grant(grant_id, tokens_expire_by(now))

    async def revoke_user(self, user_id: str, client_id: str | None = None) -> int:
        """Revoke every grant of the user (to ``client_id`` only, when given); how many.
        RFC 9700 §4.14.2: a security event such as a password change revokes them; a password
        reset is the answer to a stolen one. The account page's "remove access" is the other
        caller: every token of the user's grants to that client, as RFC 7009 would."""
        return await self._revoke_found(user_id, client_id)

    async def revoke_client(self, client_id: str) -> int:
        """Revoke every user's grants to a client that is being deleted; how many.

        RFC 7592 §2.3: deleting a client SHOULD invalidate its grants and active tokens. Its
        users' grants go as :meth:`revoke_user` finds them (refresh families, opaque access
        tokens, and the JWT access tokens of codes redeemed within the longest token
        lifetime); its own ``client_credentials`` tokens, JWT or opaque, by their one grant
        (:func:`client_grant_id`) on the deny-list.
        """
        await self.revocations.revoke_grant(
            client_grant_id(client_id), tokens_expire_by(self.clock.now())
        )
        return await self._revoke_found(None, client_id)

    async def _revoke_found(self, user_id: str | None, client_id: str | None) -> int:
        now = self.clock.now()
        # An access token lives at most CLIENT_TOKEN_TTL_MAX_S (settings.py): older codes'
        # grants can hold no live token unless they have a refresh family, found anyway.
        issued_since = now - timedelta(seconds=CLIENT_TOKEN_TTL_MAX_S)
        grant_ids = await self.refresh.grants_of(user_id, issued_since, now, client_id)
        for grant_id in sorted(grant_ids):
            await self.refresh.revoke_grant(grant_id, now)
            await self.revocations.revoke_grant(grant_id, tokens_expire_by(now))
        return len(grant_ids)
