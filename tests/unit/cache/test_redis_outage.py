"""Redis is killed under a running TieredCache, then comes back: nothing fails meanwhile.

The test runs a redis-server of its own (no persistence, a port of its own) so it can kill it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs

from tests.components import REDIS_SERVER, RedisServer
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.settings import RedisSettings
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock

PREFIX = "outage:"
RETRY_INTERVAL_S = 2.0

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    assert REDIS_SERVER is not None
    server = RedisServer(REDIS_SERVER, tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def raw(server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(server.url)
    await until_answering(client)
    yield client
    await client.aclose()


async def until_answering(client: Redis, within_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            await client.ping()
            return
        except RedisConnectionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_the_cache_serves_from_memory_while_redis_is_down_and_uses_it_again_after(
    server: RedisServer, raw: Redis, clock: FrozenClock, registry: CollectorRegistry
) -> None:
    settings = RedisSettings(url=server.url, key_prefix=PREFIX, retry_interval_s=RETRY_INTERVAL_S)
    cache = TieredCache(
        MemoryCache(100, clock),
        RedisCache.open(settings),
        registry=registry,
        clock=clock,
        memory_ttl_s=5.0,
        retry_interval_s=RETRY_INTERVAL_S,
    )
    try:
        await cache.set("before", b"1", ttl_s=60)
        assert await raw.get(f"{PREFIX}before") == b"1"
        await raw.set(f"{PREFIX}only-in-redis", b"x")

        server.kill()
        with capture_logs() as logs:
            assert await cache.get("before") == b"1"  # the memory copy
            assert await cache.get("only-in-redis") is None  # a miss, not an error
            await cache.set("during", b"2", ttl_s=60)
            assert await cache.get("during") == b"2"
            assert await cache.incr("hits", ttl_s=60) == 1
            assert await cache.incr("hits") == 2
            assert sample(registry, "tokend_cache_degraded") == 1
            assert sample(registry, "tokend_cache_fallbacks_total", op="get") == 1
            assert sample(registry, "tokend_cache_fallbacks_total", op="set") == 1
            assert sample(registry, "tokend_cache_fallbacks_total", op="incr") == 2

            server.start()
            await until_answering(raw)
            # Within the retry interval Redis is left alone, even though it is back.
            await cache.set("too-soon", b"3")
            assert await raw.get(f"{PREFIX}too-soon") is None
            assert sample(registry, "tokend_cache_degraded") == 1

            clock.advance(RETRY_INTERVAL_S)
            await cache.set("after", b"4")
            assert await raw.get(f"{PREFIX}after") == b"4"
            assert sample(registry, "tokend_cache_degraded") == 0
            # Redis serves again (it restarted empty): counters and reads go to it, and what
            # only memory held during the outage lasts at most memory_ttl_s more.
            assert await cache.incr("hits") == 1
            assert await cache.get("during") == b"2"
            clock.advance(5.0)
            assert await cache.get("during") is None

        events = [entry["event"] for entry in logs if entry["event"].startswith("cache.")]
        assert events == ["cache.redis_degraded", "cache.redis_recovered"]
    finally:
        await cache.close()
