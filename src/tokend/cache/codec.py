"""JSON values in a bytes cache."""

from __future__ import annotations

import json
from typing import Any

from tokend.cache.base import Cache


async def get_json(cache: Cache, key: str) -> Any | None:
    """The decoded value, or None on a miss (a stored JSON ``null`` reads the same)."""
    raw = await cache.get(key)
    return None if raw is None else json.loads(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl_s: float | None) -> None:
    """Store ``value`` as compact UTF-8 JSON; TypeError or ValueError for what JSON cannot hold."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    await cache.set(key, encoded.encode(), ttl_s)
