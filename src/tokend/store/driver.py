"""Prebuilt statements run on a pooled connection's own driver (asyncpg), below SQLAlchemy's
execution layer: for the provider's one hot path that writes, the refresh-token grant.

Why by hand: SQLAlchemy has no public "prepared statement" for its async engine. Every
``conn.execute`` of even a prebuilt Core statement computes the statement's cache key, builds an
execution context and result metadata and crosses into a greenlet and back; timed on the bench
machine (2026-12-07, PostgreSQL on loopback), reading a refresh token with its user, consent and
claims cost 370 µs of tokend CPU that way, 210 µs through the pooled connection's asyncpg
connection and 75 µs of it in asyncpg itself. So a statement here is compiled once by
SQLAlchemy for the engine's dialect (its SQL, the order of its parameters), and its parameters
and columns pass through the very bind and result processors SQLAlchemy would apply
(``UTCDateTime``, JSON), so the values are the same either way; asyncpg keeps each connection's
prepared statements. The connection still comes from, and goes back to, SQLAlchemy's pool.

Errors keep SQLAlchemy's shape: a driver error leaves as a ``DBAPIError`` whose ``orig`` is
asyncpg's exception (``store.engine.is_database_outage`` reads its SQLSTATE), and a connection
that failed, or that an error or a cancellation left inside a transaction, is invalidated so
that the pool never hands it out again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from tokend.store.engine import Database

Processor = Callable[[Any], Any]

#: SQLSTATE class 08 (connection exception) and class 57P (operator intervention: shutdowns),
#: PostgreSQL Appendix A: the connection cannot be used again.
_BROKEN_STATES = ("08", "57P")


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement compiled for one dialect: positional SQL and its value processors."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor | None, ...]
    columns: tuple[str, ...]
    results: tuple[Processor | None, ...]

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect) -> DriverStatement:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # a statement's, not DDL's
        names = tuple(compiled.positiontup or ())
        # The type of each parameter and column, as SQLAlchemy's execution context reads them.
        binds = tuple(compiled.binds[name].type._cached_bind_processor(dialect) for name in names)
        returned = compiled._result_columns or []
        columns = tuple(column[0] for column in returned)
        results = tuple(column[3]._cached_result_processor(dialect, None) for column in returned)
        return cls(str(compiled), names, binds, columns, results)

    def args(self, params: Mapping[str, object]) -> list[object]:
        """The statement's positional arguments from ``params`` (by bind parameter name)."""
        return [
            params[name] if bind is None else bind(params[name])
            for name, bind in zip(self.names, self.binds, strict=True)
        ]

    def row(self, record: Sequence[object]) -> dict[str, Any]:
        """A returned record as SQLAlchemy would give it, by column key."""
        return {
            name: value if process is None else process(value)
            for name, process, value in zip(self.columns, self.results, record, strict=True)
        }


@asynccontextmanager
async def driver_connection(db: Database) -> AsyncIterator[Any]:
    """A pooled connection's asyncpg connection, outside any transaction (``db.autocommit``);
    asyncpg's errors leave as ``DBAPIError``."""
    async with db.autocommit.connect() as conn:
        # After the checkout (AsyncConnection.__aenter__), the pooled connection is there:
        # reading it does no I/O (AsyncConnection.get_raw_connection would cross into a
        # greenlet to do the same).
        driver: Any = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        try:
            yield driver
        # InternalClientError: the connection's protocol is mid-operation (one a lost
        # connection interrupted): unusable, so dropped like a lost one (seen as a 500 while
        # PostgreSQL stopped, tests/faults/test_postgres.py).
        except (
            asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
        ) as exc:  # fmt: skip
            broken = not isinstance(exc, asyncpg.PostgresError) or str(
                getattr(exc, "sqlstate", "")
            ).startswith(_BROKEN_STATES)
            if broken:
                await conn.invalidate(exc)
            elif driver.is_in_transaction():  # a statement failed in a transaction left open
                _invalidate_now(conn)  # the pool's reset rolls back only what SQLAlchemy began
            raise DBAPIError(None, None, exc, connection_invalidated=broken) from exc
        except BaseException:
            if driver.is_in_transaction():
                _invalidate_now(conn)
            raise


def _invalidate_now(conn: AsyncConnection) -> None:
    """Drop the connection without a round trip: a cancelled task may not await one. The pool
    closes it (asyncpg's ``terminate``) and opens a new one when next needed."""
    conn.sync_connection.invalidate()  # type: ignore[union-attr]
