"""The deny-list's read side on the tiered cache (``core.revocations.Revocations.is_revoked``):
what it answers from the marks it caches, when it asks the store, and that a check reads all
its marks in one Redis round trip (memory in front: only what memory lacks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from tests.unit.cache.round_trips import count_round_trips
from tests.unit.core.memory_revocations import MemoryRevocations
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock
from tokend.core.revocations import Revocations, Revoked, RevokedKind
from tokend.obs.metrics import new_registry

CHECKED_TTL_S = 5.0
EXPIRES = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CountedStore(MemoryRevocations):
    """The memory store, counting which entries each database query asked about."""

    queries: list[set[Revoked]] = field(default_factory=list)

    async def revoked(self, entries: Sequence[Revoked], now: datetime) -> dict[Revoked, datetime]:
        self.queries.append(set(entries))
        return await MemoryRevocations.revoked(self, entries, now)


def revocations(clock: FrozenClock, redis: RedisCache | None = None) -> Revocations:
    cache = TieredCache(
        MemoryCache(1000, clock),
        redis,
        registry=new_registry(),
        clock=clock,
        memory_ttl_s=1.0,
        retry_interval_s=2.0,
    )
    return Revocations(CountedStore(), cache, clock, checked_ttl_s=CHECKED_TTL_S)


def store_of(checks: Revocations) -> CountedStore:
    assert isinstance(checks.store, CountedStore)
    return checks.store


JTI = Revoked(RevokedKind.JTI, "jti-1")
GRANT = Revoked(RevokedKind.GRANT, "grant-1")


async def test_a_token_is_checked_in_the_store_once_then_from_the_cache() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    checks = revocations(clock)
    assert not await checks.is_revoked("jti-1", "grant-1")
    assert not await checks.is_revoked("jti-1", "grant-1")
    assert store_of(checks).queries == [{JTI, GRANT}]
    # A known grant with a new token: only the token's id is asked about.
    assert not await checks.is_revoked("jti-2", "grant-1")
    assert store_of(checks).queries[1:] == [{Revoked(RevokedKind.JTI, "jti-2")}]
    # The "not revoked" answer lasts checked_ttl_s.
    clock.advance(CHECKED_TTL_S)
    assert not await checks.is_revoked("jti-1", None)
    assert store_of(checks).queries[2:] == [{JTI}]


async def test_a_revoked_id_decides_whatever_was_checked_before() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    checks = revocations(clock)
    assert not await checks.is_revoked("jti-1", "grant-1")
    await checks.revoke_grant("grant-1", EXPIRES)
    assert await checks.is_revoked("jti-1", "grant-1")
    assert await checks.is_revoked("jti-other", "grant-1")
    assert not await checks.is_revoked("jti-1", None)
    await checks.revoke_jti("jti-1", EXPIRES)
    assert await checks.is_revoked("jti-1", None)
    assert not await checks.is_revoked(None, None)


async def test_revoked_in_the_store_only_is_found_and_then_cached() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    checks = revocations(clock)
    await store_of(checks).add(GRANT, EXPIRES)  # another replica wrote it; no mark cached here
    assert await checks.is_revoked("jti-1", "grant-1")
    assert await checks.is_revoked("jti-9", "grant-1")
    # The grant's revoked mark answered the second check; the new jti was not asked about.
    assert store_of(checks).queries == [{JTI, GRANT}]


@pytest.mark.redis
async def test_one_redis_round_trip_per_check_and_another_replicas_revocation_shows_at_once(
    raw_redis: Redis, redis_prefix: str
) -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    redis = RedisCache(raw_redis, redis_prefix)
    round_trips = count_round_trips(redis)
    here = revocations(clock, redis)
    other = revocations(clock, RedisCache(raw_redis, redis_prefix))
    assert not await here.is_revoked("jti-1", "grant-1")
    assert not await here.is_revoked("jti-1", "grant-1")
    # Each check read its four marks in one round trip; the second found the "checked" marks
    # in memory and asked Redis for the two revoked marks only.
    assert [len(keys) for keys in round_trips] == [4, 2]
    await other.revoke_jti("jti-1", clock.now() + timedelta(hours=1))
    assert await here.is_revoked("jti-1", "grant-1")  # its "checked" mark is still in memory
    assert len(round_trips) == 3
