"""``tokend clients`` and ``tokend users`` against a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anyio
import pytest
from typer.testing import CliRunner

from tests.secrets_seen import SecretsSeen
from tokend.cli.main import app
from tokend.oidc.records import TotpFactor
from tokend.oidc.sql import SqlFactors
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings


@pytest.fixture
def env(database_settings: DatabaseSettings) -> dict[str, str]:
    values = {"TOKEND_DATABASE__URL": database_settings.url}
    if database_settings.schema_name:
        values["TOKEND_DATABASE__SCHEMA_NAME"] = database_settings.schema_name
    return values


def test_clients_create_prints_the_secret_once_and_stores_it_hashed(
    env: dict[str, str], secrets_seen: SecretsSeen
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["clients", "create", "--name", "Web", "--grant", "authorization_code",
         "--grant", "refresh_token", "--redirect-uri", "https://rp.example/cb",
         "--redirect-uri", "https://rp.example/cb2", "--scope", "openid email", "--json"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    secrets_seen.add(created["client_secret"])
    assert created["client_id"].startswith("c_")
    shown = runner.invoke(app, ["clients", "show", created["client_id"]], env=env)
    assert shown.exit_code == 0
    view = json.loads(shown.stdout)
    assert view["redirect_uris"] == ["https://rp.example/cb", "https://rp.example/cb2"]
    assert created["client_secret"] not in shown.stdout
    listed = runner.invoke(app, ["clients", "list", "--json"], env=env)
    assert created["client_id"] in listed.stdout
    rotated = runner.invoke(app, ["clients", "rotate-secret", created["client_id"], "--json"],
                            env=env)  # fmt: skip
    new_secret = json.loads(rotated.stdout)["client_secret"]
    secrets_seen.add(new_secret)
    assert new_secret != created["client_secret"]
    deleted = runner.invoke(app, ["clients", "delete", created["client_id"]], env=env)
    assert deleted.exit_code == 0
    assert runner.invoke(app, ["clients", "show", created["client_id"]], env=env).exit_code == 1


def test_public_client_has_no_secret(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app,
        ["clients", "create", "--name", "SPA", "--public", "--redirect-uri",
         "http://localhost:3000/cb", "--json"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["client_secret"] is None


def test_invalid_client_options_exit_2(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        app, ["clients", "create", "--name", "X", "--redirect-uri", "https://a/*"], env=env
    )
    assert result.exit_code == 2


def test_users_create_and_duplicate_email(env: dict[str, str], secrets_seen: SecretsSeen) -> None:
    password = secrets_seen.add("a long enough password 42")
    runner = CliRunner()
    args = ["users", "create", "--email", "Cli.User@Example.org", "--password", password,
            "--verified", "--json"]  # fmt: skip
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["email"] == "Cli.User@Example.org"
    args[3] = "cli.user@example.org"
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 1


def test_users_create_and_update_roles_groups_and_client_roles(
    env: dict[str, str], secrets_seen: SecretsSeen
) -> None:
    password = "cli roles password 1"
    secrets_seen.add(password)
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["users", "create", "--email", "roles@example.org", "--password", password,
         "--role", "manager", "--role", "admin", "--group", "/staff",
         "--client-role", "c_web:editor", "--json"],
        env=env,
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["roles"] == ["manager", "admin"]
    updated = runner.invoke(
        app, ["users", "update", "roles@example.org", "--group", "/ops", "--json"], env=env
    )
    assert updated.exit_code == 0, updated.output
    view = json.loads(updated.stdout)
    assert view["roles"] == ["manager", "admin"]  # options not given stay
    assert view["groups"] == ["/ops"]
    assert view["client_roles"] == {"c_web": ["editor"]}
    bad = runner.invoke(
        app, ["users", "update", "roles@example.org", "--client-role", "no-colon"], env=env
    )
    assert bad.exit_code != 0
    missing = runner.invoke(app, ["users", "update", "nobody@example.org", "--role", "x"], env=env)
    assert missing.exit_code == 1


def test_users_reset_factors_removes_the_authenticator(
    env: dict[str, str], database_settings: DatabaseSettings, secrets_seen: SecretsSeen
) -> None:
    password = secrets_seen.add("cli reset password 1")
    runner = CliRunner()
    created = runner.invoke(
        app, ["users", "create", "--email", "lost.phone@example.org", "--password", password,
              "--json"], env=env,
    )  # fmt: skip
    user_id = json.loads(created.stdout)["id"]

    async def enrol() -> None:
        database = open_database(database_settings)
        try:
            await SqlFactors(database).save_totp(
                TotpFactor(user_id, "v1.k.sealed", confirmed=True, last_step=1,
                           created_at=datetime.now(UTC))
            )  # fmt: skip
        finally:
            await database.close()

    anyio.run(enrol)
    reset = runner.invoke(app, ["users", "reset-factors", "lost.phone@example.org"], env=env)
    assert reset.exit_code == 0, reset.output
    assert "second factors removed" in reset.stdout
    again = runner.invoke(app, ["users", "reset-factors", user_id], env=env)
    assert "had no second factor" in again.stdout
    missing = runner.invoke(app, ["users", "reset-factors", "nobody@example.org"], env=env)
    assert missing.exit_code == 1
