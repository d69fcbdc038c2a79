"""Revoked JWT access tokens and grants: durable in the database, answered from the cache.

JWT access tokens are written nowhere, so revoking one (by ``jti``) or every token of a grant
(code replay, refresh reuse, RFC 7009 on a refresh token) is a deny-list entry. The database
row is the truth: it is written before the revocation is answered, so a flushed Redis or a
restarted memory-only process cannot bring a revoked token back. The cache is the fast path:

- ``oidc:revoked-<kind>:<value>``: revoked, until no token it denies can still be valid;
- ``oidc:checked-<kind>:<value>``: the database said "not revoked", for ``checked_ttl_s``.

Reads look for the revoked mark first. A memory tier miss goes on to Redis, so a revocation
made on another replica is seen at once, even by a replica whose memory still holds a
"checked" answer. Only when neither mark is cached does one query (single flight) ask the
database. Entries never carry a token, only the ``jti`` or the grant id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.oidc.records import Revoked, RevokedKind
from tokend.oidc.settings import CLIENT_TOKEN_TTL_MAX_S
from tokend.oidc.stores import RefreshStore, RevocationStore

#: A revoked ``jti`` is kept this long past its token's expiry (clock skew between replicas).
JTI_MARGIN_S: Final = 60
#: How long a grant stays denied: past the longest access token it may have issued, which
#: both ``oidc.access_token_ttl_s`` and a client's own lifetime are capped at (settings.py),
#: plus the same clock-skew margin.
GRANT_DENIAL_S: Final = CLIENT_TOKEN_TTL_MAX_S + JTI_MARGIN_S
#: How often the purge job deletes the rows no token needs any more.
PURGE_EVERY_S: Final = 3600.0
PURGE_JOB: Final = "oidc.purge_revocations"


def _revoked_key(entry: Revoked) -> str:
    return f"oidc:revoked-{entry.kind.value}:{entry.value}"


def _checked_key(entry: Revoked) -> str:
    return f"oidc:checked-{entry.kind.value}:{entry.value}"


@dataclass(frozen=True, slots=True)
class Revocations:
    """Deny-lists for JWT access tokens: by ``jti`` and by grant."""

    store: RevocationStore
    cache: TieredCache
    clock: Clock
    #: How long a "not revoked" answer of the database is cached; 0 asks it every time.
    checked_ttl_s: float
    #: Concurrent checks of one token share one database query.
    flights: SingleFlight = field(default_factory=SingleFlight)

    async def revoke_jti(self, jti: str, expires_at: datetime) -> None:
        """Deny one access token; raises ``TemporarilyUnavailable`` if it was not recorded."""
        until = expires_at + timedelta(seconds=JTI_MARGIN_S)
        await self._revoke(Revoked(RevokedKind.JTI, jti), until)

    async def revoke_grant(self, grant_id: str) -> None:
        """Deny every access token of the grant; raises ``TemporarilyUnavailable`` likewise."""
        until = self.clock.now() + timedelta(seconds=GRANT_DENIAL_S)
        await self._revoke(Revoked(RevokedKind.GRANT, grant_id), until)

    async def purge(self) -> int:
        """Delete the entries no token needs any more (idempotent across replicas); how many."""
        return await self.store.purge(self.clock.now())

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        entries = _entries(jti, grant_id)
        for entry in entries:
            if await self.cache.get(_revoked_key(entry)) is not None:
                return True
        unchecked = tuple([e for e in entries if await self.cache.get(_checked_key(e)) is None])
        if not unchecked:
            return False
        flight = "oidc:revocation-check:" + "|".join(_revoked_key(e) for e in unchecked)
        return await self.flights.run(flight, lambda: self._load(unchecked))

    async def _revoke(self, entry: Revoked, until: datetime) -> None:
        ttl_s = (until - self.clock.now()).total_seconds()
        if ttl_s <= 0:
            return  # every token it would deny has expired already
        # The row first: if it cannot be written the caller answers an error, never success.
        await self.store.add(entry, until)
        await self.cache.set(_revoked_key(entry), b"1", ttl_s)
        # The revoked mark is read first anyway; dropping the stale answer here also covers a
        # Redis that evicts the mark (maxmemory) but keeps the answer.
        await self.cache.delete(_checked_key(entry))

    async def _load(self, entries: tuple[Revoked, ...]) -> bool:
        now = self.clock.now()
        revoked = await self.store.revoked(entries, now)
        for entry in entries:
            until = revoked.get(entry)
            if until is not None:
                await self.cache.set(_revoked_key(entry), b"1", (until - now).total_seconds())
            elif self.checked_ttl_s > 0:
                await self.cache.set(_checked_key(entry), b"0", self.checked_ttl_s)
        return bool(revoked)


@dataclass(frozen=True, slots=True)
class GrantRevoker:
    """Revokes whole grants: their refresh and opaque access tokens in the store, their JWT
    access tokens on the deny-list."""

    refresh: RefreshStore
    revocations: Revocations
    clock: Clock

    async def revoke(self, grant_id: str) -> None:
        await self.refresh.revoke_grant(grant_id, self.clock.now())
        await self.revocations.revoke_grant(grant_id)

    async def revoke_user(self, user_id: str) -> int:
        """Revoke every grant of the user; how many. RFC 9700 §4.14.2: a security event such as
        a password change revokes them; a password reset is the answer to a stolen one."""
        now = self.clock.now()
        # An access token lives at most CLIENT_TOKEN_TTL_MAX_S (settings.py): older codes'
        # grants can hold no live token unless they have a refresh family, found anyway.
        issued_since = now - timedelta(seconds=CLIENT_TOKEN_TTL_MAX_S)
        grant_ids = await self.refresh.grants_of(user_id, issued_since, now)
        for grant_id in sorted(grant_ids):
            await self.refresh.revoke_grant(grant_id, now)
            await self.revocations.revoke_grant(grant_id)
        return len(grant_ids)


def _entries(jti: str | None, grant_id: str | None) -> tuple[Revoked, ...]:
    entries = []
    if jti is not None:
        entries.append(Revoked(RevokedKind.JTI, jti))
    if grant_id is not None:
        entries.append(Revoked(RevokedKind.GRANT, grant_id))
    return tuple(entries)
