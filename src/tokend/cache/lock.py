"""Locks across replicas: on Redis when it is configured, on the database otherwise."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final, Protocol

import structlog
from sqlalchemy import TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from tokend.cache.settings import RedisSettings
from tokend.cache.tiered import TieredCache
from tokend.core.errors import ServiceUnavailable
from tokend.store.engine import Database

log = structlog.get_logger("tokend.cache")

_FIRST_DELAY_S: Final = 0.01
_MAX_DELAY_S: Final = 0.2

# Advisory locks are per database, not per schema: the schema keeps two deployments sharing
# a database (or two test runs) apart. hashtextextended maps the name to the bigint key.
_PG_KEY: Final = "hashtextextended(current_schema() || ':' || :name, 0)"
_PG_TRY_LOCK: Final = text(f"SELECT pg_try_advisory_lock({_PG_KEY})")
_PG_UNLOCK: Final = text(f"SELECT pg_advisory_unlock({_PG_KEY})")
# The same keys for a batch of names; WHERE runs the volatile try-lock once for every row.
_PG_TRY_LOCK_MANY: Final = text(
    "SELECT name FROM unnest(CAST(:names AS text[])) AS name"
    " WHERE pg_try_advisory_lock(hashtextextended(current_schema() || ':' || name, 0))"
)
_PG_UNLOCK_MANY: Final = text(
    "SELECT count(*) FROM unnest(CAST(:names AS text[])) AS name"
    " WHERE pg_advisory_unlock(hashtextextended(current_schema() || ':' || name, 0))"
)


class LockNotAcquired(ServiceUnavailable):
    """Another holder kept the lock for the whole wait."""

    default_description = "The resource is busy; try again later."


class Locks(Protocol):
    def hold(
        self, name: str, ttl_s: float, wait_s: float = 0.0
    ) -> AbstractAsyncContextManager[None]:
        """Hold ``name`` for the block, across replicas; ``LockNotAcquired`` after ``wait_s``.

        ``ttl_s`` bounds how long a crashed holder blocks the others, so a Redis lock lapses
        after it even while the block still runs: pick it above the block's longest run.
        Database locks end with their connection instead and ignore it.
        """
        ...

    def hold_free(
        self, names: Collection[str], ttl_s: float
    ) -> AbstractAsyncContextManager[frozenset[str]]:
        """Hold, for the block, those of ``names`` that nobody holds now; the block gets them.

        One try, no waiting: a name another holder has (through ``hold`` or ``hold_free``, on
        any replica) is left out for the caller to skip. Every name taken excludes others
        exactly as ``hold`` would, ``ttl_s`` included, and all are released when the block
        ends. For a batch of names, this costs what one ``hold`` costs.
        """
        ...


class DatabaseLocks:
    """PostgreSQL advisory locks, or an in-process lock on SQLite (one process by nature)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._held_here: set[str] = set()

    def hold(
        self, name: str, ttl_s: float, wait_s: float = 0.0
    ) -> AbstractAsyncContextManager[None]:
        if self._database.is_sqlite:
            return self._hold_in_process(name, wait_s)
        return self._hold_advisory(name, wait_s)

    def hold_free(
        self, names: Collection[str], ttl_s: float
    ) -> AbstractAsyncContextManager[frozenset[str]]:
        # Repeats are dropped first: an advisory lock is re-entrant within its session.
        wanted = list(dict.fromkeys(names))
        if self._database.is_sqlite:
            return self._hold_free_in_process(wanted)
        return self._hold_free_advisory(wanted)

    @asynccontextmanager
    async def _hold_free_in_process(self, names: list[str]) -> AsyncIterator[frozenset[str]]:
        taken = [name for name in names if name not in self._held_here]
        self._held_here.update(taken)
        try:
            yield frozenset(taken)
        finally:
            self._held_here.difference_update(taken)

    @asynccontextmanager
    async def _hold_free_advisory(self, names: list[str]) -> AsyncIterator[frozenset[str]]:
        if not names:
            yield frozenset()
            return
        # As in _hold_advisory: the session holds the locks, so it is ours for the block.
        async with self._database.autocommit.connect() as conn:
            try:
                taken = (await conn.scalars(_PG_TRY_LOCK_MANY, {"names": names})).all()
            except BaseException:
                await _end_session(conn)
                raise
            try:
                yield frozenset(taken)
            finally:
                if taken:
                    await _pg_release(
                        conn, _PG_UNLOCK_MANY, {"names": list(taken)}, locks=len(taken)
                    )

    @asynccontextmanager
    async def _hold_in_process(self, name: str, wait_s: float) -> AsyncIterator[None]:
        async def try_acquire() -> bool:
            if name in self._held_here:
                return False
            self._held_here.add(name)
            return True

        await poll_for_lock(name, try_acquire, wait_s)
        try:
            yield
        finally:
            self._held_here.discard(name)

    @asynccontextmanager
    async def _hold_advisory(self, name: str, wait_s: float) -> AsyncIterator[None]:
        # A connection of its own for the whole hold: the lock belongs to the session, and
        # autocommit keeps it from sitting idle in a transaction meanwhile.
        async with self._database.autocommit.connect() as conn:

            async def try_acquire() -> bool:
                return bool(await conn.scalar(_PG_TRY_LOCK, {"name": name}))

            try:
                await poll_for_lock(name, try_acquire, wait_s)
            except LockNotAcquired:
                raise
            except BaseException:
                # Cut short (cancelled, connection lost) the last try may have taken the lock.
                await _end_session(conn)
                raise
            try:
                yield
            finally:
                await _pg_release(conn, _PG_UNLOCK, {"name": name}, lock=name)


async def _pg_release(
    conn: AsyncConnection, unlock: TextClause, params: dict[str, object], **what: object
) -> None:
    """Run ``unlock`` (one lock or a batch); ``what`` names them in the log if it fails."""
    try:
        await conn.scalar(unlock, params)
    except BaseException as exc:
        await _end_session(conn)
        if not isinstance(exc, SQLAlchemyError):
            raise
        log.warning("lock.release_failed", error=type(exc).__name__, **what)


async def _end_session(conn: AsyncConnection) -> None:
    # An advisory lock lives as long as its session: a connection that may still hold one is
    # closed, never handed back to the pool.
    await conn.invalidate()


async def poll_for_lock(
    name: str, try_acquire: Callable[[], Awaitable[bool]], wait_s: float
) -> None:
    """Call ``try_acquire`` until it answers True, backing off with jitter; ``LockNotAcquired``
    after ``wait_s`` (0: one try). Shared by the database and Redis locks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    delay_s = _FIRST_DELAY_S
    while not await try_acquire():
        left_s = deadline - loop.time()
        if left_s <= 0:
            raise LockNotAcquired(internal=f"lock {name!r} still held after {wait_s} s")
        # Jitter keeps replicas waiting for the same lock from polling in step.
        jitter = random.uniform(0.5, 1.0)  # noqa: S311  (not cryptographic)
        await asyncio.sleep(min(delay_s * jitter, left_s))
        delay_s = min(delay_s * 2, _MAX_DELAY_S)


def open_locks(redis: RedisSettings, database: Database, cache: TieredCache) -> Locks:
    """Redis locks on the cache's pool when it has one, database locks otherwise."""
    client = cache.redis_client
    if client is None:
        return DatabaseLocks(database)
    from tokend.cache.redis_locks import RedisLocks  # with redis-py, only when Redis is set

    return RedisLocks(client, redis.key_prefix)
