"""Migration 0007 moves the deny-list from ``oidc_revocations`` to ``revocations``: a token
revoked before the upgrade stays revoked after it, and a downgrade brings the rows back."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from tests.conftest import POSTGRES_URL, _drop_schema, _engine_params
from tokend.core.revocations import Revoked, RevokedKind
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.migrate import alembic_config
from tokend.store.revocations import SqlRevocations
from tokend.store.settings import DatabaseSettings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.fixture(params=_engine_params())
def at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseSettings]:
    """A database of this test's own, migrated up to revision 0006 only."""
    if request.param == "sqlite":
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        migrate.upgrade(settings, "0006")
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_migration_{secrets.token_hex(4)}"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema)
    migrate.upgrade(settings, "0006")
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


async def _run(settings: DatabaseSettings, statement: str) -> list[tuple[object, ...]]:
    database = open_database(settings)
    try:
        async with database.engine.begin() as conn:
            result = await conn.execute(text(statement), {"until": LATER})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await database.close()


async def _revoked(settings: DatabaseSettings, *entries: Revoked) -> dict[Revoked, datetime]:
    database = open_database(settings)
    try:
        return await SqlRevocations(database).revoked(entries, NOW)
    finally:
        await database.close()


async def test_the_upgrade_keeps_every_revocation_and_the_downgrade_brings_them_back(
    at_0006: DatabaseSettings,
) -> None:
    await _run(
        at_0006,
        "INSERT INTO oidc_revocations (kind, value, expires_at) VALUES "
        "('jti', 'j-before', :until), ('grant', 'g-before', :until)",
    )
    await asyncio.to_thread(migrate.upgrade, at_0006, "0007")
    jti, grant = Revoked(RevokedKind.JTI, "j-before"), Revoked(RevokedKind.GRANT, "g-before")
    assert await _revoked(at_0006, jti, grant) == {jti: LATER, grant: LATER}

    await asyncio.to_thread(command.downgrade, alembic_config(at_0006), "0006")
    rows = await _run(at_0006, "SELECT kind, value FROM oidc_revocations ORDER BY kind")
    assert rows == [("grant", "g-before"), ("jti", "j-before")]
