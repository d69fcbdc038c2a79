"""The one database connection a refresher sweep holds; its sessions take turns on it.

A sweep makes two statements per connection it refreshes: the read under the lock and the
compare-and-set write. Through the pool, each costs six round trips on PostgreSQL: the
checkout's pre-ping (BEGIN, ``;``, ROLLBACK with asyncpg), then BEGIN, the statement and COMMIT.
On a held AUTOCOMMIT connection it costs one. AUTOCOMMIT is safe for the refresher because
each of its statements stands alone: one SELECT, or one UPDATE that applies only if the row is
still at the generation read (``SqlConnections._update_if_unchanged``). None needs a transaction
spanning two statements, and each write is committed the moment it returns, as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tokend.store.engine import Database


class Sessions(Protocol):
    """What ``SqlConnections`` opens sessions with: the pool's sessionmaker, or
    ``SweepSessions``."""

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]: ...

    def begin(self) -> AbstractAsyncContextManager[AsyncSession]: ...


class SweepSessions:
    """Sessions on one AUTOCOMMIT connection, one at a time (a connection runs one statement
    at once); each holds the connection while it is open, so keep them short."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._turn = anyio.Lock()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self._turn:
            # Shielded once it has the connection: a statement cut short by cancellation could
            # leave the connection mid-answer for the next session, and that next one may be
            # the (shielded) write of a refresh token the provider has already rotated.
            with anyio.CancelScope(shield=True):
                async with AsyncSession(self._connection, expire_on_commit=False) as session:
                    yield session

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        async with self() as session, session.begin():
            yield session


@asynccontextmanager
async def hold_connection(db: Database) -> AsyncIterator[SweepSessions]:
    """A connection of the pool for the block, in AUTOCOMMIT."""
    async with db.autocommit.connect() as connection:
        yield SweepSessions(connection)
