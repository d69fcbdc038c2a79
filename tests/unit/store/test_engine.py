"""The engine's pool (one SQLite connection per process, a real pool for PostgreSQL), and
which errors mean the database is unreachable (503) rather than a bug (500)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import QueuePool, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.conftest import POSTGRES_URL, _engine_params
from tokend.store.engine import PING_AFTER_IDLE_S, is_database_outage, open_database
from tokend.store.settings import DatabaseSettings


async def test_sqlite_writers_of_one_process_queue_on_one_connection(tmp_path: Path) -> None:
    db = open_database(
        DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", pool_size=10)
    )
    try:
        assert isinstance(db.engine.pool, QueuePool)
        assert db.engine.pool.size() == 1
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment() -> None:
            async with db.sessions() as session, session.begin():
                n = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # let the others run between read and write
                await session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        # Forty read-modify-write transactions at once: on one connection they run one after
        # the other, so none is lost and none waits in SQLite's busy handler or fails locked.
        await asyncio.gather(*(increment() for _ in range(40)))
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 40
    finally:
        await db.close()


@pytest.mark.parametrize("kind", _engine_params())
async def test_only_a_connection_idle_past_the_window_is_pinged(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ping.db'}" if kind == "sqlite" else POSTGRES_URL
    assert url is not None
    db = open_database(DatabaseSettings(url=url, pool_size=1, max_overflow=0))
    dialect = db.engine.sync_engine.dialect
    pings: list[DBAPIConnection] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: DBAPIConnection) -> bool:
        pings.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    try:
        # Back to back, as under load: no round trip spent on pings.
        for _ in range(20):
            await db.ping()
        assert pings == []
        await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)
        await db.ping()
        assert len(pings) == 1
    finally:
        await db.close()


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="TOKEND_TEST_DATABASE_URL unset")
async def test_an_idle_connection_the_server_dropped_is_replaced_before_it_is_used() -> None:
    # What a PostgreSQL restart or a proxy's idle timeout does to a pooled connection.
    assert POSTGRES_URL is not None
    db = open_database(DatabaseSettings(url=POSTGRES_URL, pool_size=1, max_overflow=0))
    other = open_database(DatabaseSettings(url=POSTGRES_URL, pool_size=1, max_overflow=0))
    backend = text("SELECT pg_backend_pid()")
    try:
        async with db.engine.connect() as conn:
            pid = (await conn.execute(backend)).scalar_one()
        async with other.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(PING_AFTER_IDLE_S + 0.2)
        async with db.engine.connect() as conn:
            assert (await conn.execute(backend)).scalar_one() != pid
    finally:
        await db.close()
        await other.close()


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="TOKEND_TEST_DATABASE_URL unset")
async def test_the_default_pool_opens_no_connection_per_request_under_steady_load() -> None:
    # SQLAlchemy closes an overflow connection when it is returned: with the pool smaller than
    # the requests using it at once, every round would open (and close) the difference again.
    assert POSTGRES_URL is not None
    db = open_database(DatabaseSettings(url=POSTGRES_URL))
    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda *_: opened.append(1))

    async def request() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_sleep(0.01)"))

    try:
        for _ in range(5):
            await asyncio.gather(*(request() for _ in range(15)))
        assert len(opened) == 15
    finally:
        await db.close()


def test_postgresql_keeps_the_configured_pool() -> None:
    db = open_database(DatabaseSettings(url="postgresql+asyncpg://u@127.0.0.1:1/none", pool_size=7))
    assert isinstance(db.engine.pool, QueuePool)
    assert db.engine.pool.size() == 7


class _Driver(Exception):
    """What the database driver raised, as SQLAlchemy wraps it."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "outage"),
    [
        (OperationalError("SELECT 1", {}, _Driver("connection refused")), True),
        (InterfaceError("SELECT 1", {}, _Driver("connection is closed")), True),
        (DBAPIError("SELECT 1", {}, _Driver("gone"), connection_invalidated=True), True),
        (PoolTimeout("QueuePool limit reached"), True),
        (ConnectionRefusedError(111, "refused"), True),
        # asyncpg's errors while PostgreSQL stops or starts, as SQLAlchemy passes them on.
        (DBAPIError("SELECT 1", {}, _Driver("shutting down", "57P03")), True),
        (DBAPIError("SELECT 1", {}, _Driver("terminating connection", "57P01")), True),
        (DBAPIError("SELECT 1", {}, _Driver("connection failure", "08006")), True),
        (DBAPIError("SELECT 1", {}, _Driver("sorry, too many clients already", "53300")), True),
        (DBAPIError("SELECT 1", {}, _Driver("canceling statement", "57014")), False),
        (DBAPIError("SELECT 1", {}, _Driver("no such thing")), False),
        (IntegrityError("INSERT", {}, _Driver("duplicate key", "23505")), False),
        (ProgrammingError("SELEC 1", {}, _Driver("syntax error")), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_an_unreachable_database_counts_as_an_outage(exc: Exception, outage: bool) -> None:
    assert is_database_outage(exc) is outage
