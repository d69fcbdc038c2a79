"""The async engine and session factory, configured for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from tokend.store.settings import DatabaseSettings


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    #: The same pool without a transaction around each statement: for a hot path's single
    #: read, one round trip instead of three (BEGIN, the query, ROLLBACK). A statement on its
    #: own still sees one consistent snapshot.
    autocommit: AsyncEngine

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_asyncpg(self) -> bool:
        """PostgreSQL through asyncpg: ``store.driver`` may run statements on it directly."""
        return self.engine.dialect.driver == "asyncpg"

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def engine_options(settings: DatabaseSettings) -> tuple[URL, dict[str, Any]]:
    """URL and create_engine keyword arguments for the configured database."""
    url = make_url(settings.url)
    # No pool_pre_ping: on asyncpg it costs three round trips (BEGIN, ";", ROLLBACK) on every
    # checkout, which was half of a refresh-token grant's database time. Idle connections are
    # pinged instead (_ping_when_idle).
    options: dict[str, Any] = {"echo": settings.echo}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers run beside the one writer; busy_timeout (pragmas below) makes a
        # second writer (another process: the CLI, a worker) wait instead of failing with
        # "database is locked".
        options["connect_args"] = {"timeout": settings.pool_timeout_s}
        # SQLite has one writer at a time. With a pool of connections, this process's writers
        # wait for one another inside SQLite's busy handler, which sleeps up to 100 ms a try:
        # under 32 concurrent refresh-token rotations (bench oidc_refresh) p99 was 1.4 s and
        # rps half of what one connection, queueing in the pool instead, reaches (p99 0.4 s).
        options.update(pool_size=1, max_overflow=0, pool_timeout=settings.pool_timeout_s)
    else:
        options.update(
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_recycle=settings.pool_recycle_s,
        )
        if settings.schema_name:
            options["connect_args"] = {"server_settings": {"search_path": settings.schema_name}}
    return url, options


def open_database(settings: DatabaseSettings) -> Database:
    url, options = engine_options(settings)
    engine = create_async_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    _ping_when_idle(engine)
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False),
        engine.execution_options(isolation_level="AUTOCOMMIT"),
    )


#: A pooled connection that went back to the pool less than this long ago is handed out as it
#: is; one idle for longer is pinged first. This is HikariCP's ``aliveBypassWindowMs`` (500 ms):
#: under load every connection is in constant use and costs no extra round trip, while one that
#: sat idle, across which a database restart or a dropped TCP connection may have happened, is
#: checked before a request relies on it.
PING_AFTER_IDLE_S: Final = 0.5
_IDLE_SINCE: Final = "tokend_idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            sync_engine.dialect.do_ping(dbapi_connection)
        except sync_engine.dialect.loaded_dbapi.Error as exc:
            # The pool replaces this connection and every one opened before it (a failed ping
            # most often means the server restarted), then hands out a new one; if none can be
            # opened, that error reaches the caller as an outage.
            raise InvalidatePoolError(f"ping of an idle connection failed: {exc}") from exc

    event.listen(sync_engine, "checkin", checkin)
    event.listen(sync_engine, "checkout", checkout)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


#: SQLSTATEs of a server that cannot serve now (PostgreSQL, Appendix A): class 08 (connection
#: exception), 53300 too_many_connections, and class 57's shutdowns and start-up, 57P01
#: admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now ("the database system is
#: shutting down" / "is starting up"). asyncpg's errors for these reach SQLAlchemy as a plain
#: DBAPIError, not an OperationalError.
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached now (down, stopping, starting,
    every pooled connection lost, the pool exhausted), rather than that a statement was
    wrong."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        state = _sqlstate(exc)
        return state is not None and (state.startswith("08") or state in _UNAVAILABLE_STATES)
    # The pool's own timeout, and a refused or reset connection before the driver wraps it.
    return isinstance(exc, PoolTimeout | ConnectionError)


#: SQLSTATE of a missing table or column (PostgreSQL, Appendix A: class 42).
_UNDEFINED_TABLE, _UNDEFINED_COLUMN = "42P01", "42703"


def is_missing_schema(exc: BaseException) -> bool:
    """Whether ``exc`` says a table or column is missing: a database ``tokend migrate`` has not
    brought up to date."""
    if not isinstance(exc, DBAPIError):
        return False
    if _sqlstate(exc) in (_UNDEFINED_TABLE, _UNDEFINED_COLUMN):
        return True
    # SQLite has no SQLSTATE: its messages are stable ("no such table: x", "no such column: y").
    message = str(exc.orig) if exc.orig is not None else ""
    return message.startswith(("no such table:", "no such column:"))


def _sqlstate(exc: DBAPIError) -> str | None:
    """The driver's SQLSTATE (asyncpg's ``sqlstate``, psycopg's ``pgcode``); SQLite has none."""
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return state if isinstance(state, str) else None
