"""The vault's stores for the contract suites: in memory, on SQLite and on PostgreSQL.

The contracts get a database of their own (another SQLite file, another PostgreSQL schema) so
that their test ids read ``[memory]``, ``[sqlite]``, ``[postgres]``, one run of each; like the
run's shared database, it keeps the rows of earlier tests, which the suites never count on.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, RUN_ID, TEST_SECRET_KEY, _drop_schema, _engine_params
from tests.unit.vault.memory_stores import (
    MemoryBranches,
    MemoryClients,
    MemoryConnections,
    MemoryStates,
    MemoryVault,
)
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.vault.records import ClientRecord, NewClient
from tokend.vault.sql import SqlBranches, SqlClients, SqlConnections, SqlStates
from tokend.vault.stores import BranchStore, ClientStore, ConnectionStore, OAuthStates


@dataclass(frozen=True, slots=True)
class Stores:
    """One backend's stores, on one database, and the clock they read."""

    clients: ClientStore
    branches: BranchStore
    connections: ConnectionStore
    states: OAuthStates
    clock: FrozenClock


@pytest.fixture(scope="session", params=[pytest.param("memory", id="memory"), *_engine_params()])
def store_database(
    request: pytest.FixtureRequest, tmp_var: Path
) -> Iterator[DatabaseSettings | None]:
    """None for the in-memory stores; else a migrated database of the contract suites."""
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_var / 'vault-stores.db'}")
        migrate.upgrade(settings)
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_{RUN_ID}_vault_stores"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema, pool_size=5)
    migrate.upgrade(settings)
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture
async def stores(store_database: DatabaseSettings | None) -> AsyncIterator[Stores]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    if store_database is None:
        vault = MemoryVault(clock)
        yield Stores(
            MemoryClients(vault),
            MemoryBranches(vault),
            MemoryConnections(vault),
            MemoryStates(vault),
            clock,
        )
        return
    database = open_database(store_database)
    cipher = FieldCipher.from_secrets(TEST_SECRET_KEY)
    yield Stores(
        SqlClients(database, cipher, clock),
        SqlBranches(database, clock),
        SqlConnections(database, cipher, clock),
        SqlStates(database, cipher, clock),
        clock,
    )
    await database.close()


def a_client() -> NewClient:
    """A client to register, its app id unique in the run (``dataclasses.replace`` the rest)."""
    return NewClient(
        client_id="app-" + secrets.token_hex(6),
        client_secret="secret-" + secrets.token_hex(8),
        redirect_uri="https://tenant.example/callback",
        provider="google",
    )


async def registered(stores: Stores, client: NewClient | None = None) -> ClientRecord:
    """``client`` (or ``a_client()``) registered without a branch."""
    record, _ = await stores.clients.register(client or a_client(), None)
    return record
