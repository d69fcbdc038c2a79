"""Statements run on the pooled connection's asyncpg connection (``store.driver``): the same
values as through SQLAlchemy, and SQLAlchemy's errors and pool hygiene when things go wrong."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy import JSON, Column, MetaData, String, Table, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import POSTGRES_URL
from tokend.store.base import UTCDateTime
from tokend.store.driver import DriverStatement, driver_connection
from tokend.store.engine import Database, _sqlstate, is_database_outage, open_database
from tokend.store.settings import DatabaseSettings

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason="TOKEND_TEST_DATABASE_URL unset"),
]

_BACKEND = "SELECT pg_backend_pid()"


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    assert POSTGRES_URL is not None
    database = open_database(DatabaseSettings(url=POSTGRES_URL, pool_size=1, max_overflow=0))
    try:
        yield database
    finally:
        await database.close()


async def _backend(db: Database) -> int:
    async with driver_connection(db) as driver:
        pid = await driver.fetchval(_BACKEND)
    assert isinstance(pid, int)
    return pid


async def test_values_pass_through_sqlalchemys_own_processors(db: Database) -> None:
    assert db.is_asyncpg
    table = Table(
        f"driver_{secrets.token_hex(4)}",
        MetaData(),
        Column("id", String(20), primary_key=True),
        Column("at", UTCDateTime()),
        Column("tags", JSON),
    )
    written = insert(table).values(id=bindparam("id"), at=bindparam("at"), tags=bindparam("tags"))
    read = select(table).where(table.c.id == bindparam("id"))
    on_write = DriverStatement.compile(written, db.engine.dialect)
    on_read = DriverStatement.compile(read, db.engine.dialect)
    assert on_write.names == ("id", "at", "tags")
    # A time in another zone comes back as the same instant in UTC, as UTCDateTime does.
    at = datetime(2026, 12, 7, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    async with db.engine.begin() as conn:
        await conn.run_sync(table.create)
    try:
        async with driver_connection(db) as driver:
            await driver.execute(on_write.sql, *on_write.args({"id": "a", "at": at, "tags": ["x"]}))
            record = await driver.fetchrow(on_read.sql, *on_read.args({"id": "a"}))
        async with db.engine.connect() as conn:
            await conn.execute(insert(table), {"id": "b", "at": at, "tags": ["y", "z"]})
            await conn.commit()
            through_sqlalchemy = (await conn.execute(read, {"id": "a"})).one()._mapping
        assert on_read.row(record) == dict(through_sqlalchemy)
        assert on_read.row(record) == {"id": "a", "at": at.astimezone(UTC), "tags": ["x"]}
        assert on_read.row(record)["at"].tzinfo is UTC
        async with driver_connection(db) as driver:
            record = await driver.fetchrow(on_read.sql, *on_read.args({"id": "b"}))
        assert on_read.row(record)["tags"] == ["y", "z"]
        # The bind processor runs: UTCDateTime refuses a naive datetime before it is sent.
        with pytest.raises(ValueError, match="naive datetime"):
            on_write.args({"id": "c", "at": datetime(2026, 12, 7), "tags": []})
    finally:
        async with db.engine.begin() as conn:
            await conn.run_sync(table.drop)


async def test_a_failed_statement_is_a_dbapi_error_and_keeps_its_connection(
    db: Database,
) -> None:
    pid = await _backend(db)
    with pytest.raises(DBAPIError) as raised:
        async with driver_connection(db) as driver:
            await driver.fetchval("SELECT 1 / $1::int", 0)
    assert _sqlstate(raised.value) == "22012"  # division_by_zero
    assert not raised.value.connection_invalidated
    assert not is_database_outage(raised.value)
    assert await _backend(db) == pid


async def test_a_connection_the_server_dropped_is_an_outage_and_never_handed_out_again(
    db: Database,
) -> None:
    assert POSTGRES_URL is not None
    pid = await _backend(db)
    other = open_database(DatabaseSettings(url=POSTGRES_URL, pool_size=1, max_overflow=0))
    try:
        async with other.engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.close()
    await asyncio.sleep(0.05)  # within the idle window: the checkout does not ping it first
    with pytest.raises(DBAPIError) as raised:
        async with driver_connection(db) as driver:
            await driver.fetchval(_BACKEND)
    assert raised.value.connection_invalidated
    assert is_database_outage(raised.value)
    assert await _backend(db) != pid


async def test_a_transaction_cancelled_midway_leaves_no_open_transaction_in_the_pool(
    db: Database,
) -> None:
    started = asyncio.Event()

    async def held() -> None:
        async with driver_connection(db) as driver, driver.transaction():
            # Set for this transaction only: it would still read so if the transaction were left
            # open on a pooled connection.
            await driver.execute("SELECT set_config('tokend.test_state', 'held', true)")
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(held())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with driver_connection(db) as driver:
        assert not driver.is_in_transaction()
        assert await driver.fetchval("SELECT current_setting('tokend.test_state', true)") != "held"


async def test_a_connection_an_error_left_inside_a_transaction_is_not_pooled(db: Database) -> None:
    pid = await _backend(db)

    async def fails_between_statements() -> None:
        async with driver_connection(db) as driver:
            await driver.execute("BEGIN")  # by hand: no transaction context rolls it back
            await driver.execute("SELECT set_config('tokend.test_state', 'held', true)")
            raise RuntimeError("a bug between two statements")

    with pytest.raises(RuntimeError):
        await fails_between_statements()
    async with driver_connection(db) as driver:
        assert await driver.fetchval("SELECT current_setting('tokend.test_state', true)") != "held"
        assert await driver.fetchval(_BACKEND) != pid


async def test_a_failed_statement_in_a_transaction_left_open_drops_its_connection(
    db: Database,
) -> None:
    pid = await _backend(db)

    async def fails_in_a_transaction() -> None:
        async with driver_connection(db) as driver:
            await driver.execute("BEGIN")
            await driver.fetchval("SELECT 1 / $1::int", 0)

    with pytest.raises(DBAPIError):
        await fails_in_a_transaction()
    async with driver_connection(db) as driver:
        assert await driver.fetchval("SELECT 1") == 1  # not "current transaction is aborted"
        assert await driver.fetchval(_BACKEND) != pid


async def test_a_connection_left_mid_operation_is_an_outage_and_never_handed_out_again(
    db: Database,
) -> None:
    pid = await _backend(db)
    with pytest.raises(DBAPIError) as raised:
        async with driver_connection(db):
            raise asyncpg.InternalClientError(
                "cannot switch to state 12; another operation is in progress"
            )
    assert raised.value.connection_invalidated
    assert is_database_outage(raised.value)
    assert await _backend(db) != pid
