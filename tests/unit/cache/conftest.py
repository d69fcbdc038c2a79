"""Fixtures of the cache tests: a frozen clock, a registry per test, Redis clean-up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tokend.cache.redis import RedisCache
from tokend.cache.settings import RedisSettings
from tokend.core.clock import FrozenClock
from tokend.obs.metrics import new_registry


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return new_registry()


@pytest.fixture
def redis_settings(redis_url: str, redis_prefix: str) -> RedisSettings:
    # 5 s, not the 0.5 s default: with the whole suite on two cores an event loop can stall
    # past half a second, and these tests are about the cache, not the timeout (a Redis that
    # stops answering is test_redis_outage.py's, and a closed port test_tiered.py's).
    return RedisSettings(url=redis_url, key_prefix=redis_prefix, socket_timeout_s=5.0)


@pytest.fixture
async def raw_redis(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """A plain client to look behind the cache; deletes the test's keys at the end."""
    client: Redis = Redis.from_url(redis_url)
    await client.ping()  # TOKEND_TEST_REDIS_URL is set, so an unreachable Redis fails here
    yield client
    keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def redis_cache(redis_settings: RedisSettings, raw_redis: Redis) -> AsyncIterator[RedisCache]:
    cache = RedisCache.open(redis_settings)
    yield cache
    await cache.close()
