"""Locks across replicas: Redis tokens with a TTL, PostgreSQL advisory locks, SQLite in-process."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from tests.polling import eventually
from tokend.cache.lock import DatabaseLocks, LockNotAcquired, Locks, open_locks
from tokend.cache.redis_locks import RedisLocks
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.cache.tiered import open_cache
from tokend.core.clock import FrozenClock
from tokend.obs.metrics import new_registry
from tokend.store.engine import Database, open_database
from tokend.store.settings import DatabaseSettings

HELD_S = 30.0


def lock_name() -> str:
    return f"test-lock-{secrets.token_hex(4)}"


@pytest.fixture
async def redis_replicas(
    redis_url: str, redis_prefix: str, raw_redis: Redis
) -> AsyncIterator[tuple[RedisLocks, RedisLocks]]:
    """The locks of two replicas, each on its own pool."""
    first: Redis = Redis.from_url(redis_url)
    second: Redis = Redis.from_url(redis_url)
    yield RedisLocks(first, redis_prefix), RedisLocks(second, redis_prefix)
    await first.aclose()
    await second.aclose()


@pytest.fixture
async def postgres_replica(
    database: Database, database_settings: DatabaseSettings
) -> AsyncIterator[Database]:
    """A second replica's own engine on the same PostgreSQL database."""
    if database.is_sqlite:
        pytest.skip("SQLite serves one process; its locks are in-process")
    other_replica = open_database(database_settings)
    yield other_replica
    await other_replica.close()


@contextmanager
def advisory_tries(database: Database, name: str) -> Iterator[list[str]]:
    """The PostgreSQL advisory try-lock statements for ``name`` sent inside the block."""
    tries: list[str] = []

    def note(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        if "pg_try_advisory_lock" in statement and name in str(parameters):
            tries.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield tries
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def assert_busy(locks: Locks, name: str, wait_s: float = 0.0) -> None:
    with pytest.raises(LockNotAcquired):
        async with locks.hold(name, ttl_s=HELD_S, wait_s=wait_s):
            pytest.fail("the lock was acquired twice")


async def assert_free(locks: Locks, name: str) -> None:
    async with locks.hold(name, ttl_s=HELD_S):
        pass


async def test_a_redis_lock_excludes_another_replica_until_released(
    redis_replicas: tuple[RedisLocks, RedisLocks],
) -> None:
    first, second = redis_replicas
    name = lock_name()
    async with first.hold(name, ttl_s=HELD_S):
        await assert_busy(second, name, wait_s=0.05)
        await assert_busy(first, name)  # not re-entrant either
    await assert_free(second, name)


class KeysSent(Redis):
    """A replica's Redis client that notes the key each command it sends names: Redis is the
    network peer, so this watches the wire, not tokend's code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys_named: list[str] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if len(args) > 1:
            self.keys_named.append(str(args[1]))
        # redis-py leaves execute_command unannotated.
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


async def test_a_waiting_replica_gets_the_lock_once_it_is_released(
    redis_url: str, redis_prefix: str, raw_redis: Redis
) -> None:
    first_client, second_client = Redis.from_url(redis_url), KeysSent.from_url(redis_url)
    assert isinstance(second_client, KeysSent)  # from_url builds the class it is called on
    first, second = RedisLocks(first_client, redis_prefix), RedisLocks(second_client, redis_prefix)
    name = lock_name()
    order: list[str] = []

    async def wait_for_it() -> None:
        async with second.hold(name, ttl_s=HELD_S, wait_s=5):
            order.append("second holds")

    async with first.hold(name, ttl_s=HELD_S):
        waiter = asyncio.create_task(wait_for_it())
        # Released only once the other replica has tried the lock and found it held.
        await eventually(lambda: any(name in key for key in second_client.keys_named))
        order.append("first releases")
    await waiter
    assert order == ["first releases", "second holds"]
    await first_client.aclose()
    await second_client.aclose()


async def test_a_holder_whose_lock_lapsed_does_not_release_the_next_holders_lock(
    redis_replicas: tuple[RedisLocks, RedisLocks], raw_redis: Redis, redis_prefix: str
) -> None:
    first, second = redis_replicas
    name = lock_name()
    async with AsyncExitStack() as first_block, AsyncExitStack() as second_block:
        await first_block.enter_async_context(first.hold(name, ttl_s=0.05))
        # The first block overruns its TTL; the second replica gets the lock meanwhile.
        await second_block.enter_async_context(second.hold(name, ttl_s=HELD_S, wait_s=5))
        second_token = await raw_redis.get(f"{redis_prefix}lock:{name}")
        await first_block.aclose()  # the first replica's release: its token no longer matches
        assert await raw_redis.get(f"{redis_prefix}lock:{name}") == second_token
        await assert_busy(first, name)
    await assert_free(first, name)


async def test_a_lock_is_released_when_the_block_raises(
    redis_replicas: tuple[RedisLocks, RedisLocks],
) -> None:
    first, second = redis_replicas
    name = lock_name()
    with pytest.raises(RuntimeError, match="the work failed"):
        async with first.hold(name, ttl_s=HELD_S):
            raise RuntimeError("the work failed")
    await assert_free(second, name)


async def test_a_database_lock_excludes_a_concurrent_holder(database: Database) -> None:
    locks = DatabaseLocks(database)
    name = lock_name()
    async with locks.hold(name, ttl_s=HELD_S):
        await assert_busy(locks, name, wait_s=0.05)
        await assert_free(locks, lock_name())  # other names are not affected
    await assert_free(locks, name)


async def test_a_database_lock_is_released_when_the_block_raises(database: Database) -> None:
    locks = DatabaseLocks(database)
    name = lock_name()
    with pytest.raises(RuntimeError, match="the work failed"):
        async with locks.hold(name, ttl_s=HELD_S):
            raise RuntimeError("the work failed")
    await assert_free(locks, name)


async def test_a_waiting_holder_gets_a_database_lock_once_it_is_released(
    database: Database,
) -> None:
    locks = DatabaseLocks(database)
    name = lock_name()
    order: list[str] = []

    async def wait_for_it() -> None:
        async with locks.hold(name, ttl_s=HELD_S, wait_s=5):
            order.append("second holds")

    async with locks.hold(name, ttl_s=HELD_S):
        with advisory_tries(database, name) as tries:
            waiter = asyncio.create_task(wait_for_it())
            # Released only once the waiter has tried the lock and found it held.
            if database.is_sqlite:
                await asyncio.sleep(0)  # in process, its first try is one turn of the loop
            else:
                await eventually(lambda: bool(tries))
        order.append("first releases")
    await waiter
    assert order == ["first releases", "second holds"]


@pytest.mark.postgres
async def test_a_postgres_advisory_lock_excludes_another_replica(
    database: Database, postgres_replica: Database
) -> None:
    name = lock_name()
    async with DatabaseLocks(database).hold(name, ttl_s=HELD_S):
        await assert_busy(DatabaseLocks(postgres_replica), name, wait_s=0.05)
    await assert_free(DatabaseLocks(postgres_replica), name)


async def test_open_locks_uses_the_database_without_redis(database: Database) -> None:
    cache = open_cache(RedisSettings(), CacheSettings(), new_registry(), FrozenClock())
    assert isinstance(open_locks(RedisSettings(), database, cache), DatabaseLocks)
    await cache.close()


async def test_open_locks_uses_the_caches_redis_pool_when_redis_is_configured(
    database: Database, redis_settings: RedisSettings, raw_redis: Redis, redis_prefix: str
) -> None:
    cache = open_cache(redis_settings, CacheSettings(), new_registry(), FrozenClock())
    try:
        locks = open_locks(redis_settings, database, cache)
        assert isinstance(locks, RedisLocks)
        name = lock_name()
        async with locks.hold(name, ttl_s=HELD_S):
            assert await raw_redis.exists(f"{redis_prefix}lock:{name}") == 1
    finally:
        await cache.close()


# -- hold_free: a batch of locks in one go, for the names nobody holds -------------------------


async def test_overlapping_batches_on_two_replicas_never_both_get_a_name(
    redis_replicas: tuple[RedisLocks, RedisLocks],
) -> None:
    first, second = redis_replicas
    names = [lock_name() for _ in range(40)]
    got: list[frozenset[str]] = []

    async def take(locks: RedisLocks, batch: list[str], entered: asyncio.Event) -> None:
        async with locks.hold_free(batch, ttl_s=HELD_S) as held:
            got.append(held)
            entered.set()
            await both_in.wait()  # neither releases before both have asked

    both_in = asyncio.Event()
    one, two = asyncio.Event(), asyncio.Event()
    tasks = [
        asyncio.create_task(take(first, names[:30], one)),
        asyncio.create_task(take(second, names[10:], two)),
    ]
    await one.wait()
    await two.wait()
    both_in.set()
    await asyncio.gather(*tasks)
    assert not got[0] & got[1]
    assert got[0] | got[1] == set(names)


async def test_a_batch_skips_names_held_by_hold_and_hold_waits_for_the_batch(
    redis_replicas: tuple[RedisLocks, RedisLocks],
) -> None:
    first, second = redis_replicas
    busy, free = lock_name(), lock_name()
    async with first.hold(busy, ttl_s=HELD_S):
        async with second.hold_free([busy, free, free], ttl_s=HELD_S) as held:
            assert held == {free}
            await assert_busy(first, free, wait_s=0.05)
        await assert_free(first, free)  # released at the end of the block
    async with second.hold_free([busy], ttl_s=HELD_S) as held:
        assert held == {busy}


async def test_a_batch_release_leaves_a_name_retaken_after_its_ttl_alone(
    redis_replicas: tuple[RedisLocks, RedisLocks], raw_redis: Redis, redis_prefix: str
) -> None:
    first, second = redis_replicas
    name = lock_name()
    async with AsyncExitStack() as first_block, AsyncExitStack() as second_block:
        held = await first_block.enter_async_context(first.hold_free([name], ttl_s=0.05))
        assert held == {name}
        await second_block.enter_async_context(second.hold(name, ttl_s=HELD_S, wait_s=5))
        second_token = await raw_redis.get(f"{redis_prefix}lock:{name}")
        await first_block.aclose()  # the batch's release: its token no longer matches
        assert await raw_redis.get(f"{redis_prefix}lock:{name}") == second_token
        await assert_busy(first, name)
    await assert_free(first, name)


async def test_a_database_batch_skips_held_names_and_releases_the_rest(
    database: Database,
) -> None:
    locks = DatabaseLocks(database)
    busy, free = lock_name(), lock_name()
    async with (
        locks.hold(busy, ttl_s=HELD_S),
        locks.hold_free([busy, free, free], ttl_s=HELD_S) as held,
    ):
        assert held == {free}
        await assert_busy(locks, free, wait_s=0.05)
        async with locks.hold_free([free], ttl_s=HELD_S) as again:
            assert again == frozenset()  # two batches never both get a name
    await assert_free(locks, free)
    async with locks.hold_free([busy, free], ttl_s=HELD_S) as held:
        assert held == {busy, free}
    await assert_free(locks, busy)


@pytest.mark.postgres
async def test_a_postgres_batch_excludes_another_replica(
    database: Database, postgres_replica: Database
) -> None:
    mine, theirs = lock_name(), lock_name()
    async with (
        DatabaseLocks(postgres_replica).hold(theirs, ttl_s=HELD_S),
        DatabaseLocks(database).hold_free([mine, theirs], ttl_s=HELD_S) as held,
    ):
        assert held == {mine}
        await assert_busy(DatabaseLocks(postgres_replica), mine, wait_s=0.05)
    await assert_free(DatabaseLocks(postgres_replica), mine)
