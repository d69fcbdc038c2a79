"""JSON helpers over any Cache."""

from __future__ import annotations

import math

import pytest

from tokend.cache.codec import get_json, set_json
from tokend.cache.memory import MemoryCache
from tokend.core.clock import FrozenClock


async def test_a_json_value_reads_back_equal_and_is_stored_compact(clock: FrozenClock) -> None:
    cache = MemoryCache(10, clock)
    value = {"sub": "alice", "scopes": ["openid", "email"], "n": 1, "name": "Zoë"}
    await set_json(cache, "k", value, ttl_s=60)
    assert await get_json(cache, "k") == value
    assert await cache.get("k") == (
        '{"sub":"alice","scopes":["openid","email"],"n":1,"name":"Zoë"}'.encode()
    )


async def test_a_missing_json_value_reads_as_none(clock: FrozenClock) -> None:
    assert await get_json(MemoryCache(10, clock), "missing") is None


async def test_json_values_expire_with_their_ttl(clock: FrozenClock) -> None:
    cache = MemoryCache(10, clock)
    await set_json(cache, "k", [1, 2], ttl_s=1)
    clock.advance(1)
    assert await get_json(cache, "k") is None


async def test_what_json_cannot_hold_is_refused(clock: FrozenClock) -> None:
    cache = MemoryCache(10, clock)
    with pytest.raises(ValueError, match="JSON"):
        await set_json(cache, "k", math.nan, ttl_s=None)
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        await set_json(cache, "k", {1, 2}, ttl_s=None)
    assert await cache.get("k") is None
