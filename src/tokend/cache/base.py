"""The cache interface every tier implements, and the error a remote tier raises when down."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tokend.core.errors import ServiceUnavailable


class CacheUnavailable(ServiceUnavailable):
    """A remote cache (Redis) did not answer: refused, timed out, read-only, out of memory.

    ``TieredCache`` catches it and serves from memory; it only escapes from a ``RedisCache``
    or a ``RedisLocks`` used on their own, where a 503 is the honest answer.
    """

    default_description = "The cache is unavailable; try again later."


class Cache(Protocol):
    """Bytes in, bytes out, with a TTL in seconds. JSON helpers live in ``tokend.cache.codec``.

    Semantics follow Redis so every tier behaves the same: a TTL of zero or less expires the
    key at once, ``incr`` works on the decimal text of an integer (``get`` then returns
    ``b"3"``) and raises ``ValueError`` on anything else.

    ``TieredCache`` never raises because Redis is unreachable: it serves from its memory tier
    and says so in metrics and logs. ``RedisCache`` alone raises ``CacheUnavailable``.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``get`` of each key, in order, in one call (one round trip to Redis: MGET)."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        """Add ``amount`` and return the new value; ``ttl_s`` applies when the key is created."""
        ...

    async def expire(self, key: str, ttl_s: float) -> bool:
        """Set a new TTL on an existing key; False when the key does not exist."""
        ...

    async def ping(self) -> None:
        """Raise if the backend cannot be reached (readiness probe)."""
        ...

    async def close(self) -> None: ...
