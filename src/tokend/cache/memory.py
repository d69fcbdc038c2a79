"""The in-process tier: a bounded LRU with a TTL per key, on the injected clock.

One per process. Alone it is the whole cache (embedded mode); in front of Redis it keeps hot
values for at most ``memory_ttl_s`` and serves everything while Redis is down.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tokend.core.clock import Clock

# Redis keeps counters as signed 64-bit integers written in canonical decimal (no sign on zero,
# no leading zeros, no spaces); anything else is "not an integer or out of range".
_INTEGER: Final = re.compile(rb"-?[1-9][0-9]*|0")
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class _Entry:
    value: bytes
    expires_at: float | None  # on the clock's monotonic scale; None: never

    def has_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class MemoryCache:
    """A ``Cache`` in a dict. Single-threaded by design: only the event loop touches it."""

    def __init__(self, max_items: int, clock: Clock) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._max_items = max_items
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry.value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [None if (entry := self._live(key)) is None else entry.value for key in keys]

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._put(key, _Entry(bytes(value), self._expiry(ttl_s)))

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        entry = self._live(key)
        current = 0 if entry is None else _parse_counter(entry.value)
        value = current + amount
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("increment or decrement would overflow")
        # Like Redis INCRBY: an existing key keeps its TTL; ttl_s only applies to a new one.
        expires_at = self._expiry(ttl_s) if entry is None else entry.expires_at
        self._put(key, _Entry(str(value).encode(), expires_at))
        return value

    async def expire(self, key: str, ttl_s: float) -> bool:
        entry = self._live(key)
        if entry is None:
            return False
        self._put(key, _Entry(entry.value, self._expiry(ttl_s)))
        return True

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    def remaining_ttl_s(self, key: str) -> float | None:
        """Seconds ``key`` has left; None when it never expires or does not exist."""
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - self._clock.monotonic()

    def shorten_ttls(self, max_ttl_s: float) -> None:
        """Make every entry expire within ``max_ttl_s`` (the tiers converge after an outage)."""
        cap = self._clock.monotonic() + max_ttl_s
        for key, entry in list(self._entries.items()):
            if entry.expires_at is None or entry.expires_at > cap:
                self._entries[key] = _Entry(entry.value, cap)

    def _live(self, key: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.has_expired(self._clock.monotonic()):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _put(self, key: str, entry: _Entry) -> None:
        if entry.has_expired(self._clock.monotonic()):
            self._entries.pop(key, None)  # a TTL of zero or less expires the key at once
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_items:
            self._entries.popitem(last=False)

    def _expiry(self, ttl_s: float | None) -> float | None:
        if ttl_s is None:
            return None
        if math.isnan(ttl_s):
            raise ValueError("ttl_s must be a number")
        return self._clock.monotonic() + ttl_s


def _parse_counter(raw: bytes) -> int:
    if _INTEGER.fullmatch(raw) is None:
        raise ValueError("value is not an integer or out of range")
    value = int(raw)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("value is not an integer or out of range")
    return value
