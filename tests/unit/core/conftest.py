"""Keyring fixtures on the run's databases, plus an empty database for tests that need one."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_SECRET_KEY
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.keys import Keyring
from tokend.core.settings import KeysSettings
from tokend.store import migrate
from tokend.store.engine import Database, open_database
from tokend.store.settings import DatabaseSettings

POSTGRES_URL = os.environ.get("TOKEND_TEST_DATABASE_URL")


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher.from_secrets(TEST_SECRET_KEY, [])


@pytest.fixture
async def keyring(database: Database, cipher: FieldCipher) -> Keyring:
    return await Keyring.open(database, cipher, KeysSettings(), SystemClock())


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(POSTGRES_URL is None, reason="TOKEND_TEST_DATABASE_URL unset"),
            ],
        ),
    ]
)
def empty_database_settings(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[DatabaseSettings]:
    """A freshly migrated database of this test's own, with no keys in it."""
    if request.param == "sqlite":
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        migrate.upgrade(settings)
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_keys_{secrets.token_hex(4)}"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema, pool_size=5)
    migrate.upgrade(settings)
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


async def _drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def databases(empty_database_settings: DatabaseSettings) -> AsyncIterator[list[Database]]:
    """Three engines on the empty database, standing in for three replicas."""
    dbs = [open_database(empty_database_settings) for _ in range(3)]
    yield dbs
    for db in dbs:
        await db.close()
