"""``RevocationStore``: one contract for every backend (in memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import POSTGRES_URL, RUN_ID, _drop_schema, _engine_params
from tests.unit.core.memory_revocations import MemoryRevocations
from tokend.core.crypto import random_id
from tokend.core.revocations import RevocationStore, Revoked, RevokedKind
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.revocations import SqlRevocations
from tokend.store.settings import DatabaseSettings

#: The time every contract test runs at (the store takes ``now`` as an argument).
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module", params=[pytest.param("memory", id="memory"), *_engine_params()])
def store_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseSettings | None]:
    """None for the in-memory store; else a migrated database of this suite's own."""
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("revocations") / "revocations.db"
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{path}")
        migrate.upgrade(settings)
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_{RUN_ID}_revocations"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema, pool_size=5)
    migrate.upgrade(settings)
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture
async def store(store_database: DatabaseSettings | None) -> AsyncIterator[RevocationStore]:
    if store_database is None:
        yield MemoryRevocations()
        return
    database = open_database(store_database)
    yield SqlRevocations(database)
    await database.close()


async def test_a_revocation_is_reported_until_it_expires(store: RevocationStore) -> None:
    jti, grant = Revoked(RevokedKind.JTI, random_id("j_")), Revoked(RevokedKind.GRANT, random_id())
    # The same value of another kind is another entry.
    same_value = Revoked(RevokedKind.GRANT, jti.value)
    until = NOW + timedelta(minutes=5)
    await store.add(jti, until)
    await store.add(grant, NOW + timedelta(minutes=1))
    assert await store.revoked([jti, grant, same_value], NOW) == {
        jti: until,
        grant: NOW + timedelta(minutes=1),
    }
    assert await store.revoked([jti, grant], until) == {}
    assert await store.revoked([], NOW) == {}


async def test_purge_deletes_only_the_revocations_that_expired(store: RevocationStore) -> None:
    expired = Revoked(RevokedKind.JTI, random_id("j_"))
    at_the_edge = Revoked(RevokedKind.GRANT, random_id("g_"))
    live = Revoked(RevokedKind.JTI, random_id("j_"))
    await store.add(expired, NOW - timedelta(seconds=1))
    await store.add(at_the_edge, NOW)
    await store.add(live, NOW + timedelta(seconds=1))
    assert await store.purge(NOW) >= 2
    everything = [expired, at_the_edge, live]
    assert await store.revoked(everything, NOW - timedelta(days=1)) == {
        live: NOW + timedelta(seconds=1)
    }


async def test_revoking_again_keeps_the_later_expiry(store: RevocationStore) -> None:
    entry = Revoked(RevokedKind.GRANT, random_id("g_"))
    await store.add(entry, NOW + timedelta(hours=2))
    await store.add(entry, NOW + timedelta(hours=1))
    assert await store.revoked([entry], NOW) == {entry: NOW + timedelta(hours=2)}
    await store.add(entry, NOW + timedelta(hours=3))
    assert await store.revoked([entry], NOW) == {entry: NOW + timedelta(hours=3)}
    assert await store.revoked([entry], NOW + timedelta(hours=3)) == {}
