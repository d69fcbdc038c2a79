"""The tiered cache: memory in front of Redis, memory alone without it, metrics and logs."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from structlog.testing import capture_logs

from tests.unit.cache.round_trips import count_round_trips
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.cache.tiered import TieredCache, open_cache
from tokend.core.clock import FrozenClock
from tokend.obs.metrics import new_registry

MEMORY_TTL_S = 5.0
RETRY_INTERVAL_S = 2.0


def tiered(
    redis: RedisCache | None, clock: FrozenClock, registry: CollectorRegistry
) -> TieredCache:
    return TieredCache(
        MemoryCache(100, clock),
        redis,
        registry=registry,
        clock=clock,
        memory_ttl_s=MEMORY_TTL_S,
        retry_interval_s=RETRY_INTERVAL_S,
    )


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def closed_port() -> int:
    """A port nothing listens on: the kernel refuses connections at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def unreachable(
    clock: FrozenClock, registry: CollectorRegistry
) -> AsyncIterator[TieredCache]:
    settings = RedisSettings(url=f"redis://127.0.0.1:{closed_port()}/0", socket_timeout_s=0.5)
    cache = tiered(RedisCache.open(settings), clock, registry)
    yield cache
    await cache.close()


@pytest.fixture
async def replicas(
    redis_settings: RedisSettings, raw_redis: Redis, clock: FrozenClock
) -> AsyncIterator[tuple[TieredCache, TieredCache]]:
    """Two replicas: their own memory tiers and registries, one Redis (and one clock)."""
    first = tiered(RedisCache.open(redis_settings), clock, new_registry())
    second = tiered(RedisCache.open(redis_settings), clock, new_registry())
    yield first, second
    await first.close()
    await second.close()


async def test_without_redis_the_memory_tier_is_the_whole_cache(
    clock: FrozenClock, registry: CollectorRegistry
) -> None:
    cache = open_cache(RedisSettings(), CacheSettings(), registry, clock)
    await cache.set("k", b"v", ttl_s=3600)
    clock.advance(MEMORY_TTL_S * 10)  # memory keeps the whole TTL: it holds the only copy
    assert await cache.get("k") == b"v"
    assert await cache.incr("n") == 1
    assert cache.redis_client is None
    assert await cache.health() == "memory"
    assert sample(registry, "tokend_cache_degraded") == 0
    assert sample(registry, "tokend_cache_fallbacks_total", op="set") == 0
    await cache.close()


async def test_an_unreachable_redis_degrades_to_memory_and_is_logged_once(
    unreachable: TieredCache, registry: CollectorRegistry
) -> None:
    with capture_logs() as logs:
        await unreachable.set("k", b"v", ttl_s=60)
        assert await unreachable.get("k") == b"v"
        assert await unreachable.get("missing") is None
        assert await unreachable.incr("n", ttl_s=60) == 1
        assert await unreachable.incr("n") == 2
        assert await unreachable.expire("k", 30) is True
        await unreachable.delete("k")
        assert await unreachable.get("k") is None

    degraded = [entry for entry in logs if entry["event"] == "cache.redis_degraded"]
    assert len(degraded) == 1
    assert degraded[0]["log_level"] == "warning"
    assert set(degraded[0]) == {"event", "log_level", "op", "error", "retry_interval_s"}
    assert unreachable.is_degraded
    assert sample(registry, "tokend_cache_degraded") == 1
    assert sample(registry, "tokend_cache_fallbacks_total", op="set") == 1
    assert sample(registry, "tokend_cache_fallbacks_total", op="incr") == 2
    assert sample(registry, "tokend_cache_fallbacks_total", op="get") == 2
    assert sample(registry, "tokend_cache_fallbacks_total", op="expire") == 1
    assert sample(registry, "tokend_cache_fallbacks_total", op="delete") == 1


async def test_a_degraded_cache_is_still_ready_and_says_so(
    unreachable: TieredCache, registry: CollectorRegistry
) -> None:
    assert await unreachable.health() == "degraded"
    await unreachable.ping()  # never raises: memory serves
    assert sample(registry, "tokend_cache_degraded") == 1
    assert sample(registry, "tokend_cache_fallbacks_total", op="get") == 0


async def test_writes_while_degraded_keep_their_whole_ttl_in_memory(
    unreachable: TieredCache, clock: FrozenClock
) -> None:
    await unreachable.set("k", b"v", ttl_s=60)
    clock.advance(MEMORY_TTL_S * 2)
    assert await unreachable.get("k") == b"v"
    clock.advance(60)
    assert await unreachable.get("k") is None


async def test_a_value_is_written_to_redis_under_the_key_prefix(
    replicas: tuple[TieredCache, TieredCache], raw_redis: Redis, redis_prefix: str
) -> None:
    first, _ = replicas
    await first.set("k", b"v", ttl_s=60)
    assert await raw_redis.get(f"{redis_prefix}k") == b"v"
    assert 0 < await raw_redis.pttl(f"{redis_prefix}k") <= 60_000


async def test_another_replicas_write_shows_once_the_memory_copy_expires(
    replicas: tuple[TieredCache, TieredCache], clock: FrozenClock
) -> None:
    first, second = replicas
    await first.set("k", b"old", ttl_s=3600)
    assert await second.get("k") == b"old"  # now in second's memory as well
    await first.set("k", b"new", ttl_s=3600)
    assert await second.get("k") == b"old"
    clock.advance(MEMORY_TTL_S)
    assert await second.get("k") == b"new"


async def test_replicas_count_on_one_counter_in_redis(
    replicas: tuple[TieredCache, TieredCache],
) -> None:
    first, second = replicas
    assert await first.incr("n", ttl_s=60) == 1
    assert await second.incr("n", ttl_s=60) == 2
    assert await first.incr("n") == 3


async def test_lookups_are_counted_by_tier_and_result(
    raw_redis: Redis, redis_prefix: str, registry: CollectorRegistry
) -> None:
    cache = tiered(RedisCache(raw_redis, redis_prefix), FrozenClock(), registry)
    await raw_redis.set(f"{redis_prefix}k", b"v")
    assert await cache.get("missing") is None
    assert await cache.get("k") == b"v"  # from Redis, then kept in memory
    assert await cache.get("k") == b"v"
    requests = "tokend_cache_requests_total"
    assert sample(registry, requests, tier="memory", result="miss") == 2
    assert sample(registry, requests, tier="memory", result="hit") == 1
    assert sample(registry, requests, tier="redis", result="miss") == 1
    assert sample(registry, requests, tier="redis", result="hit") == 1


async def test_get_many_takes_what_memory_lacks_from_redis_in_one_round_trip(
    raw_redis: Redis, redis_prefix: str, registry: CollectorRegistry, clock: FrozenClock
) -> None:
    redis = RedisCache(raw_redis, redis_prefix)
    cache = tiered(redis, clock, registry)
    await cache.set("held", b"m", ttl_s=3600)  # in memory (and Redis)
    await raw_redis.set(f"{redis_prefix}k1", b"v1", px=60_000)
    await raw_redis.set(f"{redis_prefix}k2", b"v2")
    round_trips = count_round_trips(redis)
    keys = ["held", "k1", "missing", "k2"]
    assert await cache.get_many(keys) == [b"m", b"v1", None, b"v2"]
    assert round_trips == [["k1", "missing", "k2"]]  # one round trip, for memory's misses only
    requests = "tokend_cache_requests_total"
    assert sample(registry, requests, tier="memory", result="hit") == 1
    assert sample(registry, requests, tier="memory", result="miss") == 3
    assert sample(registry, requests, tier="redis", result="hit") == 2
    assert sample(registry, requests, tier="redis", result="miss") == 1
    # What Redis had is kept in memory for at most memory_ttl_s, as get keeps it.
    assert await cache.get_many(keys) == [b"m", b"v1", None, b"v2"]
    assert round_trips[1:] == [["missing"]]
    clock.advance(MEMORY_TTL_S)
    await raw_redis.set(f"{redis_prefix}k1", b"changed", px=60_000)
    assert (await cache.get_many(["k1"])) == [b"changed"]


async def test_get_many_answers_from_memory_while_redis_is_down(
    unreachable: TieredCache, registry: CollectorRegistry
) -> None:
    await unreachable.set("k", b"v", ttl_s=60)
    assert await unreachable.get_many(["k", "missing"]) == [b"v", None]
    assert unreachable.is_degraded


async def test_open_cache_puts_redis_behind_memory_when_a_url_is_set(
    redis_settings: RedisSettings, raw_redis: Redis, redis_prefix: str, clock: FrozenClock
) -> None:
    cache = open_cache(redis_settings, CacheSettings(), new_registry(), clock)
    try:
        await cache.set("k", b"v")
        assert await raw_redis.get(f"{redis_prefix}k") == b"v"
        assert await cache.health() == "ok"
        assert cache.redis_client is not None
    finally:
        await cache.close()
