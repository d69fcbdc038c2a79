"""JSON values in a bytes cache."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from tokend.cache.base import Cache

T = TypeVar("T")


async def get_json(cache: Cache, key: str) -> Any | None:
    """The decoded value, or None on a miss (a stored JSON ``null`` reads the same)."""
    raw = await cache.get(key)
    return None if raw is None else json.loads(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl_s: float | None) -> None:
    """Store ``value`` as compact UTF-8 JSON; TypeError or ValueError for what JSON cannot hold."""
    encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    await cache.set(key, encoded.encode(), ttl_s)


def json_records(build: Callable[[dict[str, Any]], T | None]) -> Callable[[bytes], T | None]:
    """A decoder of cached records stored as JSON objects: ``build(object)``, None for ``{}``
    (a record known not to exist); ValueError for bytes that are not a JSON object (an entry
    not written by us, which the reader then loads from its store and writes over)."""

    def decode(raw: bytes) -> T | None:
        cached = json.loads(raw)
        if not isinstance(cached, dict):
            raise ValueError("not a cached record")
        return build(cached) if cached else None

    return decode
