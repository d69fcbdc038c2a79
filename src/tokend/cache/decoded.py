"""The last decoded value of each cached entry, kept beside the entry's bytes.

A hot lookup reads the same cached bytes request after request (a client, an opaque token's
record) and decoded them each time: the JSON, then the record built from it. Here the value
last decoded from a key's bytes is kept with those bytes; while the cache answers the same
bytes, the lookup returns that value. Keyed by the bytes, never by time: a changed, dropped or
expired entry reaches here as other bytes (or none) and is decoded afresh, so the cache's TTLs
and invalidations keep deciding what is current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, Literal, TypeVar

from tokend.cache.base import Cache

T = TypeVar("T")


class _Miss(Enum):
    """What :meth:`DecodedCopies.read` answers when the cache holds no entry of ours."""

    MISS = "miss"


MISS: Final = _Miss.MISS

#: Decoded values kept at most by default (one per key).
DECODED_MAX: Final = 4096


@dataclass(slots=True)
class DecodedCopies(Generic[T]):
    """``decode(raw)`` for ``key``, or the value it gave the last time ``key`` had these bytes.

    The values are shared by every request that reads them: they must be immutable. When
    ``max_items`` keys are held, the copies are dropped at once (a bound, not a policy: the
    next lookups decode again). An exception out of ``decode`` keeps nothing.
    """

    decode: Callable[[bytes], T]
    max_items: int = DECODED_MAX
    _copies: dict[str, tuple[bytes, T]] = field(default_factory=dict)

    def __call__(self, key: str, raw: bytes) -> T:
        known = self._copies.get(key)
        if known is not None and known[0] == raw:
            return known[1]
        value = self.decode(raw)
        if len(self._copies) >= self.max_items:
            self._copies.clear()
        self._copies[key] = (raw, value)
        return value

    async def read(self, cache: Cache, key: str) -> T | Literal[_Miss.MISS]:
        """The value of ``key``'s entry in ``cache``; MISS when there is none, or when it is
        not an entry of ours (``decode`` raised ValueError: bad JSON, not an object), which the
        caller then loads from its store and writes over."""
        raw = await cache.get(key)
        if raw is None:
            return MISS
        try:
            return self(key, raw)
        except ValueError:
            return MISS

    def __len__(self) -> int:
        return len(self._copies)
