"""The deny-list of tokend's access tokens: revoked ``jti``s and grants, durable in the database,
answered from the cache; every surface that takes tokend's access tokens asks it.

JWT access tokens are written nowhere, so revoking one (by ``jti``) or every token of a grant
(code replay, refresh reuse, RFC 7009 on a refresh token) is a deny-list entry. The OpenID
provider writes it; the provider's own readers (introspection, userinfo), the admin policy of
every admin surface (``core.admin_auth``), the vault's API and token exchange and the guard's
own-issuer path read it, through the one :class:`Revocations` of the process
(``Resources.revocations``).

The database row is the truth: it is written before the revocation is answered, so a flushed
Redis or a restarted memory-only process cannot bring a revoked token back. The cache is the
fast path:

- ``revocations:revoked-<kind>:<value>``: revoked, until no token it denies can still be valid;
- ``revocations:checked-<kind>:<value>``: the database said "not revoked", for
  ``checked_ttl_s``.

Reads look for the revoked mark first. A memory tier miss goes on to Redis, so a revocation
made on another replica is seen at once, even by a replica whose memory still holds a
"checked" answer. Only when neither mark is cached does one query (single flight) ask the
database. Entries never carry a token, only the ``jti`` or the grant id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock

#: A revoked entry is kept this long past the expiry of the last token it denies (clock skew
#: between replicas).
MARGIN_S: Final = 60
#: How often the purge job deletes the rows no token needs any more.
PURGE_EVERY_S: Final = 3600.0
PURGE_JOB: Final = "revocations.purge"


class RevokedKind(StrEnum):
    """What a revocation denies: one JWT access token, or every token of a grant."""

    JTI = "jti"
    GRANT = "grant"


@dataclass(frozen=True, slots=True)
class Revoked:
    """One deny-list entry: a ``jti`` or a grant id, never a token."""

    kind: RevokedKind
    value: str


class RevocationStore(Protocol):
    """Durable deny-list; every method raises ``TemporarilyUnavailable`` when it cannot answer."""

    async def add(self, entry: Revoked, expires_at: datetime) -> None:
        """Record ``entry`` until ``expires_at``; a repeat keeps the later expiry."""
        ...

    async def revoked(self, entries: Sequence[Revoked], now: datetime) -> dict[Revoked, datetime]:
        """Which of ``entries`` are revoked at ``now``, each with the expiry of its row."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the entries that expired at or before ``now``; how many."""
        ...


class RevocationCheck(Protocol):
    """What a surface that takes tokend's access tokens asks (the read side of the list)."""

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        """True when the token with ``jti`` (or every token of ``grant_id``) was revoked."""
        ...


#: The cache keys of a kind's marks, ahead of the id: revoked (b"1"), and checked in the
#: database and not revoked (b"0", for ``checked_ttl_s``).
_REVOKED_AT: Final = {kind: f"revocations:revoked-{kind.value}:" for kind in RevokedKind}
_CHECKED_AT: Final = {kind: f"revocations:checked-{kind.value}:" for kind in RevokedKind}
_JTI_REVOKED: Final = _REVOKED_AT[RevokedKind.JTI]
_JTI_CHECKED: Final = _CHECKED_AT[RevokedKind.JTI]
_GRANT_REVOKED: Final = _REVOKED_AT[RevokedKind.GRANT]
_GRANT_CHECKED: Final = _CHECKED_AT[RevokedKind.GRANT]


def _revoked_key(entry: Revoked) -> str:
    return _REVOKED_AT[entry.kind] + entry.value


def _checked_key(entry: Revoked) -> str:
    return _CHECKED_AT[entry.kind] + entry.value


@dataclass(frozen=True, slots=True)
class Revocations:
    """The deny-list of access tokens: by ``jti`` and by grant."""

    store: RevocationStore
    cache: TieredCache
    clock: Clock
    #: How long a "not revoked" answer of the database is cached; 0 asks it every time.
    checked_ttl_s: float
    #: Concurrent checks of one token share one database query.
    flights: SingleFlight = field(default_factory=SingleFlight)

    async def revoke_jti(self, jti: str, expires_at: datetime) -> None:
        """Deny the access token ``jti``, which expires at ``expires_at``; raises
        ``TemporarilyUnavailable`` if it was not recorded."""
        await self._revoke(Revoked(RevokedKind.JTI, jti), expires_at)

    async def revoke_grant(self, grant_id: str, tokens_expire_by: datetime) -> None:
        """Deny every access token of the grant, each of which expires by ``tokens_expire_by``
        (the issuer knows its longest lifetime); raises ``TemporarilyUnavailable`` likewise."""
        await self._revoke(Revoked(RevokedKind.GRANT, grant_id), tokens_expire_by)

    async def purge(self) -> int:
        """Delete the entries no token needs any more (idempotent across replicas); how many."""
        return await self.store.purge(self.clock.now())

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        # Every mark in one lookup (one Redis round trip, where one lookup per mark made up to
        # four): a revoked mark decides, whatever the "checked" marks say. The keys are built
        # from the ids as they come, without the entries: this runs for every token check.
        revoked_keys, checked_keys = [], []
        if jti is not None:
            revoked_keys.append(_JTI_REVOKED + jti)
            checked_keys.append(_JTI_CHECKED + jti)
        if grant_id is not None:
            revoked_keys.append(_GRANT_REVOKED + grant_id)
            checked_keys.append(_GRANT_CHECKED + grant_id)
        marks = await self.cache.get_many(revoked_keys + checked_keys)
        if any(mark is not None for mark in marks[: len(revoked_keys)]):
            return True
        checked = marks[len(revoked_keys) :]
        if all(mark is not None for mark in checked):
            return False
        entries = _entries(jti, grant_id)
        unchecked = tuple(e for e, mark in zip(entries, checked, strict=True) if mark is None)
        flight = "revocations:check:" + "|".join(_revoked_key(e) for e in unchecked)
        return await self.flights.run(flight, lambda: self._load(unchecked))

    async def _revoke(self, entry: Revoked, last_expiry: datetime) -> None:
        until = last_expiry + timedelta(seconds=MARGIN_S)
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


def _entries(jti: str | None, grant_id: str | None) -> tuple[Revoked, ...]:
    entries = []
    if jti is not None:
        entries.append(Revoked(RevokedKind.JTI, jti))
    if grant_id is not None:
        entries.append(Revoked(RevokedKind.GRANT, grant_id))
    return tuple(entries)
