"""Rate limits in memory and in Redis (shared by replicas), failing open when Redis is down."""

from __future__ import annotations

import asyncio
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from tests.conftest import inside_one_rate_window
from tokend.core.errors import RateLimited
from tokend.oidc.rate_limits import MemoryCounters, RateLimits, SharedCounters
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


class _Library:
    """``limits``' own sliding window counter, asked as tokend's counters are."""

    def __init__(self, limiter: SlidingWindowCounterRateLimiter) -> None:
        self.limiter = limiter

    async def hit(self, item: RateLimitItem, rule: str, key: str) -> bool:
        return await self.limiter.hit(item, rule, key)

    async def test(self, item: RateLimitItem, rule: str, key: str) -> bool:
        return await self.limiter.test(item, rule, key)

    async def reset_at(self, item: RateLimitItem, rule: str, key: str) -> float:
        return (await self.limiter.get_window_stats(item, rule, key)).reset_time


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@settings(max_examples=150, deadline=None, database=None)
@given(
    start=st.floats(min_value=1e9, max_value=2e9, allow_nan=False),
    steps=st.lists(
        st.tuples(
            # Mostly hits, a few seconds apart: the weighted previous window decides often;
            # one step in ten also pauses past a whole window.
            st.floats(min_value=0, max_value=4),
            st.integers(min_value=0, max_value=9),
            st.sampled_from(["hit", "hit", "hit", "hit", "test", "a", "b"]),
        ),
        max_size=80,
    ),
)
def test_memory_counters_answer_as_the_limits_library_does(
    start: float, steps: list[tuple[float, int, str]]
) -> None:
    # The same hits, at the same times, to MemoryCounters and to limits' own sliding window
    # counter on its memory storage (whose clock is time.time, replaced for the run).
    clock = _Clock(start)
    item = parse("4/10 seconds")
    ours = MemoryCounters(clock=clock)
    theirs = _Library(SlidingWindowCounterRateLimiter(MemoryStorage()))

    async def run() -> None:
        key = "ada"
        for advance, pause, op in steps:
            clock.now += advance + (15 if pause == 0 else 0)
            if op in ("a", "b"):
                key = op  # another key has windows of its own
            elif op == "hit":
                assert await ours.hit(item, "rule", key) == await theirs.hit(item, "rule", key)
            else:
                assert await ours.test(item, "rule", key) == await theirs.test(item, "rule", key)
            assert await ours.reset_at(item, "rule", key) == pytest.approx(
                await theirs.reset_at(item, "rule", key), abs=1e-6
            )

    with patch("time.time", clock):
        asyncio.run(run())


async def test_memory_counters_keep_the_keys_of_two_windows_at_most() -> None:
    clock = _Clock(1_000_000_000.0)
    counters = MemoryCounters(clock=clock)
    item = parse("10/minute")
    for n in range(100):
        assert await counters.hit(item, "rule", f"ip-{n}")
    clock.now += 60
    assert await counters.hit(item, "rule", "late")  # the 100 keys are the previous window's
    clock.now += 60
    assert await counters.hit(item, "rule", "later")  # now they are older than that: dropped
    assert sum(len(keys) for keys in counters._windows.values()) == 2


async def test_checking_a_key_stores_nothing_for_it() -> None:
    counters = MemoryCounters(clock=_Clock(1_000_000_000.0))
    item = parse("10/minute")
    assert await counters.test(item, "rule", "never-hit")
    assert await counters.reset_at(item, "rule", "never-hit") == 1_000_000_000.0
    assert sum(len(keys) for keys in counters._windows.values()) == 0
    assert await counters.hit(item, "rule", "hit")
    assert sum(len(keys) for keys in counters._windows.values()) == 1


@pytest.mark.redis
async def test_counts_in_redis_are_the_limits_librarys(redis_url: str, redis_prefix: str) -> None:
    # The same hits through tokend's one-script path and through limits' own, each on keys of
    # its own: the same answers; and limits reads tokend's counts where it would keep its own.
    pool = Redis.from_url(redis_url)
    ours = RateLimits.open(LIMITS, pool, f"{redis_prefix}ours:")._counters
    assert isinstance(ours, SharedCounters)
    storage = RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=f"{redis_prefix}theirs:limits",
        connection_pool=pool.connection_pool,  # type: ignore[arg-type]  # as RateLimits.open
    )
    theirs = _Library(SlidingWindowCounterRateLimiter(storage))
    on_our_keys = _Library(
        SlidingWindowCounterRateLimiter(
            RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=ours.prefix,
                connection_pool=pool.connection_pool,  # type: ignore[arg-type]
            )
        )
    )
    minute, hour = parse("3/minute"), parse("5/hour")
    try:
        await inside_one_rate_window()
        for key in ("ada", "ada", "grace", "ada", "ada", "grace", "grace", "grace"):
            for item in (minute, hour):
                assert await ours.hit(item, "rule", key) == await theirs.hit(item, "rule", key)
        for key in ("ada", "grace", "nobody"):
            for item in (minute, hour):
                expected = await theirs.test(item, "rule", key)
                assert await on_our_keys.test(item, "rule", key) == expected
        assert not await on_our_keys.test(minute, "rule", "ada")
        assert await on_our_keys.reset_at(minute, "rule", "ada") == pytest.approx(
            await theirs.reset_at(minute, "rule", "ada"), abs=1.5
        )
    finally:
        async for key in pool.scan_iter(f"{redis_prefix}*"):
            await pool.delete(key)
        await pool.aclose()


@pytest.mark.parametrize("shared", [False, pytest.param(True, marks=pytest.mark.redis)])
async def test_a_token_request_refused_per_client_uses_nothing_of_its_address(
    shared: bool, redis_prefix: str, request: pytest.FixtureRequest
) -> None:
    pool = Redis.from_url(request.getfixturevalue("redis_url")) if shared else None
    limits = RateLimits.open(
        RateLimitSettings(token_per_client="2/minute", token_per_ip="3/minute"), pool, redis_prefix
    )
    try:
        await inside_one_rate_window()
        await limits.hit_token("rp", "192.0.2.1")
        await limits.hit_token("rp", "192.0.2.1")
        for _ in range(3):  # the client's window is full: the address's is not touched
            with pytest.raises(RateLimited):
                await limits.hit_token("rp", "192.0.2.1")
        await limits.hit_token("other", "192.0.2.1")  # the address's third
        with pytest.raises(RateLimited):
            await limits.hit_token("third", "192.0.2.1")
    finally:
        await limits.reset()
        if pool is not None:
            await pool.aclose()
