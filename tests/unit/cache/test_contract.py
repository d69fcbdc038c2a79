"""One set of assertions for every tier, so the memory cache cannot drift from Redis.

Time passes on the FrozenClock for the memory tier and for real (tens of milliseconds) for
Redis; the tiered cache gets both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from tokend.cache.base import Cache
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock

SHORT_TTL_S = 0.05
PAST_SHORT_TTL_S = 0.12


@dataclass(frozen=True, slots=True)
class Subject:
    cache: Cache
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture
def memory_subject(clock: FrozenClock) -> Subject:
    async def on_clock(seconds: float) -> None:
        clock.advance(seconds)

    return Subject(MemoryCache(100, clock), on_clock)


@pytest.fixture
def redis_subject(redis_cache: RedisCache) -> Subject:
    return Subject(redis_cache, asyncio.sleep)


@pytest.fixture
async def tiered_subject(
    redis_cache: RedisCache, clock: FrozenClock, registry: CollectorRegistry
) -> Subject:
    async def on_both(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(seconds)

    tiered = TieredCache(
        MemoryCache(100, clock),
        redis_cache,
        registry=registry,
        clock=clock,
        memory_ttl_s=5.0,
        retry_interval_s=2.0,
    )
    assert await tiered.health() == "ok", "TOKEND_TEST_REDIS_URL is set but Redis does not answer"
    return Subject(tiered, on_both)


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("tiered", id="tiered", marks=pytest.mark.redis),
    ]
)
def subject(request: pytest.FixtureRequest) -> Subject:
    subject: Subject = request.getfixturevalue(f"{request.param}_subject")
    return subject


async def test_a_missing_key_reads_as_none(subject: Subject) -> None:
    assert await subject.cache.get("missing") is None


async def test_get_many_reads_each_key_in_order_as_get_does(subject: Subject) -> None:
    await subject.cache.set("a", b"\x00a")
    await subject.cache.set("gone", b"v", ttl_s=SHORT_TTL_S)
    await subject.advance(PAST_SHORT_TTL_S)
    keys = ["a", "gone", "missing", "a"]
    assert await subject.cache.get_many(keys) == [b"\x00a", None, None, b"\x00a"]
    assert await subject.cache.get_many(keys) == [await subject.cache.get(k) for k in keys]
    assert await subject.cache.get_many([]) == []


async def test_a_value_reads_back_as_written_and_can_be_overwritten(subject: Subject) -> None:
    await subject.cache.set("k", b"\x00first")
    assert await subject.cache.get("k") == b"\x00first"
    await subject.cache.set("k", b"second")
    assert await subject.cache.get("k") == b"second"


async def test_a_deleted_key_reads_as_none_and_deleting_twice_is_fine(subject: Subject) -> None:
    await subject.cache.set("k", b"v")
    await subject.cache.delete("k")
    await subject.cache.delete("k")
    assert await subject.cache.get("k") is None


async def test_a_value_with_a_ttl_expires(subject: Subject) -> None:
    await subject.cache.set("k", b"v", ttl_s=SHORT_TTL_S)
    await subject.cache.set("kept", b"v")
    await subject.advance(PAST_SHORT_TTL_S)
    assert await subject.cache.get("k") is None
    assert await subject.cache.get("kept") == b"v"


async def test_a_ttl_of_zero_or_less_expires_the_value_at_once(subject: Subject) -> None:
    await subject.cache.set("k", b"v", ttl_s=0)
    assert await subject.cache.get("k") is None


async def test_incr_creates_a_missing_counter_that_expires_after_the_ttl(
    subject: Subject,
) -> None:
    assert await subject.cache.incr("n", ttl_s=SHORT_TTL_S) == 1
    assert await subject.cache.incr("n", 2) == 3
    assert await subject.cache.get("n") == b"3"
    await subject.advance(PAST_SHORT_TTL_S)
    assert await subject.cache.get("n") is None


async def test_incr_keeps_the_ttl_the_counter_was_created_with(subject: Subject) -> None:
    await subject.cache.incr("n", ttl_s=SHORT_TTL_S)
    await subject.cache.incr("n", ttl_s=3600)
    await subject.advance(PAST_SHORT_TTL_S)
    assert await subject.cache.get("n") is None


async def test_incr_does_not_give_an_existing_value_a_ttl(subject: Subject) -> None:
    await subject.cache.set("n", b"5")
    assert await subject.cache.incr("n", ttl_s=SHORT_TTL_S) == 6
    await subject.advance(PAST_SHORT_TTL_S)
    assert await subject.cache.get("n") == b"6"


async def test_incr_counts_down_with_a_negative_amount(subject: Subject) -> None:
    assert await subject.cache.incr("n", -3) == -3


@pytest.mark.parametrize("value", [b"abc", b"01", str(2**63 - 1).encode()])
async def test_incr_on_a_value_that_is_no_counter_raises_value_error(
    subject: Subject, value: bytes
) -> None:
    await subject.cache.set("n", value)
    with pytest.raises(ValueError, match=r"not an integer|overflow"):
        await subject.cache.incr("n")
    assert await subject.cache.get("n") == value


async def test_expire_on_a_missing_key_returns_false(subject: Subject) -> None:
    assert await subject.cache.expire("missing", 10) is False


async def test_expire_gives_an_existing_key_a_new_ttl(subject: Subject) -> None:
    await subject.cache.set("k", b"v")
    assert await subject.cache.expire("k", SHORT_TTL_S) is True
    await subject.advance(PAST_SHORT_TTL_S)
    assert await subject.cache.get("k") is None


async def test_expire_with_zero_removes_the_key(subject: Subject) -> None:
    await subject.cache.set("k", b"v")
    assert await subject.cache.expire("k", 0) is True
    assert await subject.cache.get("k") is None


async def test_ping_answers(subject: Subject) -> None:
    await subject.cache.ping()
