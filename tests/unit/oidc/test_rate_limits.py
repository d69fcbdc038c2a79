"""Rate limits in memory and in Redis (shared by replicas), failing open when Redis is down."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.conftest import inside_one_rate_window
from tokend.core.errors import RateLimited
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.settings import RateLimitSettings

LIMITS = RateLimitSettings(login_per_ip="2/minute")


async def test_third_attempt_in_the_window_is_refused_with_retry_after() -> None:
    limits = RateLimits.open(LIMITS, None)
    await inside_one_rate_window()
    await limits.hit("login_per_ip", "ada")
    await limits.hit("login_per_ip", "ada")
    with pytest.raises(RateLimited) as refused:
        await limits.hit("login_per_ip", "ada")
    assert int(refused.value.headers["Retry-After"]) >= 1
    await limits.hit("login_per_ip", "grace")  # another key has its own window


@pytest.mark.redis
async def test_replicas_share_their_counters_in_redis(redis_url: str, redis_prefix: str) -> None:
    one_pool, two_pool = Redis.from_url(redis_url), Redis.from_url(redis_url)
    one = RateLimits.open(LIMITS, one_pool, redis_prefix)
    two = RateLimits.open(LIMITS, two_pool, redis_prefix)
    try:
        await inside_one_rate_window()
        await one.hit("login_per_ip", "ada")
        await two.hit("login_per_ip", "ada")
        with pytest.raises(RateLimited):
            await one.hit("login_per_ip", "ada")
    finally:
        await one.reset()
        await one_pool.aclose()
        await two_pool.aclose()


async def test_unreachable_redis_lets_requests_through() -> None:
    pool = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limits = RateLimits.open(LIMITS, pool)
    try:
        for _ in range(3):
            await limits.hit("login_per_ip", "ada")
    finally:
        await pool.aclose()


async def test_stacked_windows_all_apply_and_only_counted_events_use_them_up() -> None:
    limits = RateLimits.open(RateLimitSettings(login_failures_per_account="5/minute;2/hour"), None)
    await inside_one_rate_window()
    await limits.check("login_failures_per_account", "ada")  # checking counts nothing
    await limits.check("login_failures_per_account", "ada")
    assert not await limits.is_over("login_failures_per_account", "ada")
    await limits.count("login_failures_per_account", "ada")
    await limits.count("login_failures_per_account", "ada")
    assert await limits.is_over("login_failures_per_account", "ada")  # the hour's window
    with pytest.raises(RateLimited) as refused:
        await limits.check("login_failures_per_account", "ada")
    assert int(refused.value.headers["Retry-After"]) >= 1
    assert not await limits.is_over("login_failures_per_account", "grace")
