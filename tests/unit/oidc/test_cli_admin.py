"""``tokend users create --admin``: the first administrator of the console."""

from __future__ import annotations

import json
from uuid import uuid4

import anyio
import pytest
from typer.testing import CliRunner

from tests.secrets_seen import SecretsSeen
from tokend.cli.main import app
from tokend.core.clock import SystemClock
from tokend.oidc.records import User
from tokend.oidc.sql import SqlUsers
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings


@pytest.mark.parametrize(("flags", "roles"), [(["--admin"], ("admin",)), ([], ())])
def test_users_create_admin_gives_the_consoles_role(
    env: dict[str, str],
    database_settings: DatabaseSettings,
    secrets_seen: SecretsSeen,
    flags: list[str],
    roles: tuple[str, ...],
) -> None:
    password = "an admin password"
    secrets_seen.add(password)
    email = f"admin-{uuid4().hex[:8]}@example.org"
    args = ["users", "create", "--email", email, "--password", password, *flags, "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    user = anyio.run(_user, database_settings, created["id"])
    assert user is not None
    assert user.roles == roles


async def _user(settings: DatabaseSettings, user_id: str) -> User | None:
    database = open_database(settings)
    try:
        return await SqlUsers(database, SystemClock()).by_id(user_id)
    finally:
        await database.close()
