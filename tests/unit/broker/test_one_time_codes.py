"""One-time auth codes of the operator role: bound to a subscriber, used once, expiring, and
single-use across replicas that share Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.cache.tiered import TieredCache, open_cache
from tokend.core.clock import FrozenClock
from tokend.obs.metrics import new_registry
from tokend.telco.codes import OneTimeCodes


def memory_cache(clock: FrozenClock) -> TieredCache:
    return open_cache(RedisSettings(), CacheSettings(), new_registry(), clock)


async def test_a_code_is_accepted_once_and_only_for_its_subscriber() -> None:
    cache = memory_cache(FrozenClock())
    codes = OneTimeCodes("orange", lambda: cache, ttl_s=300)
    code = await codes.issue("972", "0527464600")
    assert not await codes.consume(code, "972", "0527464601")  # another subscriber
    assert not await codes.consume(code + "x", "972", "0527464600")  # another code
    assert await codes.consume(code, "972", "0527464600")
    assert not await codes.consume(code, "972", "0527464600")  # replay


async def test_a_code_expires() -> None:
    clock = FrozenClock()
    cache = memory_cache(clock)
    codes = OneTimeCodes("orange", lambda: cache, ttl_s=60)
    code = await codes.issue("972", "05")
    clock.advance(61)
    assert not await codes.consume(code, "972", "05")


async def test_codes_are_stored_under_a_hash_never_in_clear() -> None:
    cache = memory_cache(FrozenClock())
    codes = OneTimeCodes("orange", lambda: cache, ttl_s=60)
    code = await codes.issue("972", "05")
    key = codes._key(code, "972", "05")
    assert code not in key
    assert await cache.get(key) == b"1"


@pytest.fixture
async def two_replicas(redis_url: str, redis_prefix: str) -> AsyncIterator[list[TieredCache]]:
    settings = RedisSettings(url=redis_url, key_prefix=redis_prefix)
    caches = [open_cache(settings, CacheSettings(), new_registry(), FrozenClock()) for _ in "ab"]
    raw: Redis = Redis.from_url(redis_url)
    await raw.ping()  # TOKEND_TEST_REDIS_URL is set: an unreachable Redis fails here
    yield caches
    for cache in caches:
        await cache.close()
    keys = [key async for key in raw.scan_iter(match=f"{redis_prefix}*")]
    if keys:
        await raw.delete(*keys)
    await raw.aclose()


@pytest.mark.redis
async def test_a_code_is_single_use_across_replicas_sharing_redis(
    two_replicas: list[TieredCache],
) -> None:
    first, second = two_replicas
    a = OneTimeCodes("orange", lambda: first, ttl_s=300)
    b = OneTimeCodes("orange", lambda: second, ttl_s=300)
    code = await a.issue("972", "05")
    assert await b.consume(code, "972", "05")  # the other replica sees it...
    assert not await a.consume(code, "972", "05")  # ...and its use counts everywhere
    assert not await b.consume(code, "972", "05")
