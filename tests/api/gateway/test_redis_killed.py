"""Redis is killed (SIGKILL) in the middle of 1,000 token requests: none of them fails.

The gateway keeps consumer secrets in the tiered cache and counts requests in it (the rate
limit makes every request touch Redis); once Redis dies, the memory tier answers alone and the
cache metrics say so.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tests.api.gateway.conftest import Gateway, OpenGateway, consumer_headers
from tests.components import RedisServer
from tests.unit.cache.test_redis_outage import until_answering
from tests.unit.gateway.fake_kong import FakeKong

REDIS_SERVER = shutil.which("redis-server")
REQUESTS = 1_000
KILL_AFTER = 300
CONCURRENCY = 25

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    assert REDIS_SERVER is not None
    server = RedisServer(REDIS_SERVER, tmp_path)
    server.start()
    yield server
    server.stop()


async def _load(gw: Gateway, headers: dict[str, str], count: int) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> httpx.Response:
        async with gate:
            return await gw.client.get("/tokens", headers=headers)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_no_request_fails_when_redis_is_killed_under_load(
    open_gateway: OpenGateway, kong: FakeKong, redis_server: RedisServer
) -> None:
    probe: Redis = Redis.from_url(redis_server.url)
    await until_answering(probe)
    await probe.aclose()
    credential = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id)
    # A killed Redis refuses connections at once; the timeout only has to outlast a busy
    # machine's slow answer before the kill (0.5 s did not, once, with the suite's three
    # processes on two cores: the cache counted itself degraded while Redis was alive).
    redis = {"url": redis_server.url, "key_prefix": "gw-outage:", "socket_timeout_s": 2.0}
    async with open_gateway(top={"redis": redis}, rate_limit_per_minute=1_000_000) as gw:
        before = await _load(gw, headers, KILL_AFTER)
        assert await gw.metric("tokend_cache_degraded") == 0
        redis_server.kill()
        gw.clock.advance(6)  # past the memory tier's 5 s bound: reads would go to Redis
        after = await _load(gw, headers, REQUESTS - KILL_AFTER)
        fallbacks = await gw.metric("tokend_cache_fallbacks_total")
        degraded = await gw.metric("tokend_cache_degraded")
        health = (await gw.client.get("/ready")).json()
    statuses = [r.status_code for r in before + after]
    assert statuses.count(200) == REQUESTS, sorted(set(statuses))
    assert degraded == 1
    assert fallbacks > 0
    assert health["checks"]["cache"] == "degraded"


async def test_with_redis_and_kong_both_down_the_last_good_secret_is_served_degraded(
    open_gateway: OpenGateway, kong: FakeKong, redis_server: RedisServer
) -> None:
    probe: Redis = Redis.from_url(redis_server.url)
    await until_answering(probe)
    await probe.aclose()
    credential = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id)
    redis = {"url": redis_server.url, "key_prefix": "gw-outage2:", "socket_timeout_s": 0.5}
    async with open_gateway(top={"redis": redis}) as gw:
        assert (await gw.client.get("/tokens", headers=headers)).status_code == 200
        redis_server.kill()
        kong.failing_status = 503
        gw.clock.advance(6)  # the memory tier's copy of the Redis value is gone
        responses = await _load(gw, headers, 100)
        degraded = await gw.metric("tokend_gateway_degraded_total")
    assert [r.status_code for r in responses] == [200] * 100
    assert degraded == 100
