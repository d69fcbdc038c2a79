"""``tokend clients`` and ``tokend users`` against a real database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.secrets_seen import SecretsSeen
from tokend.cli.main import app
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


def test_users_create_sets_the_phone_and_address_claims(
    env: dict[str, str], secrets_seen: SecretsSeen
) -> None:
    password = secrets_seen.add("a long enough password 43")
    args = ["users", "create", "--email", "phone.user@example.org", "--password", password,
            "--phone-number", "+44 20 7946 0958", "--address", "1 Main St, Springfield",
            "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["phone_number"] == "+44 20 7946 0958"
    assert view["phone_number_verified"] is False
    assert view["address"]["formatted"] == "1 Main St, Springfield"
    bad = CliRunner().invoke(app, [*args[:5], "--phone-number", "call me", "--json"], env=env)
    assert bad.exit_code != 0
