"""``tokend clients`` and ``tokend users`` against a real database."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import anyio
from typer.testing import CliRunner, Result

from tests.secrets_seen import SecretsSeen
from tokend.cli.main import app
from tokend.core.clock import SystemClock
from tokend.core.crypto import PasswordHasher, random_id
from tokend.oidc.records import RefreshToken, TotpFactor
from tokend.oidc.sql import SqlFactors, SqlRefreshTokens, SqlUsers
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings


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
    shown = runner.invoke(app, ["clients", "show", created["client_id"], "--json"], env=env)
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


def _invoke(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    return result


def _a_user(env: dict[str, str], secrets_seen: SecretsSeen, email: str) -> str:
    password = secrets_seen.add("first password of " + email)
    created = _invoke(env, "users", "create", "--email", email, "--password", password, "--json")
    assert created.exit_code == 0, created.output
    return str(json.loads(created.stdout)["id"])


def test_users_list_show_and_update(env: dict[str, str], secrets_seen: SecretsSeen) -> None:
    user_id = _a_user(env, secrets_seen, "ada@example.org")
    listed = _invoke(env, "users", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert "ada@example.org" in [u["email"] for u in json.loads(listed.stdout)]
    assert "password" not in listed.stdout
    assert f"{user_id}  ada@example.org  unverified" in _invoke(env, "users", "list").stdout
    updated = _invoke(env, "users", "update", "ada@example.org", "--name", "Ada L",
                      "--role", "admin", "--role", "ops", "--verified", "--json")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    view = json.loads(updated.stdout)
    assert (view["name"], view["roles"], view["email_verified"]) == (
        "Ada L",
        ["admin", "ops"],
        True,
    )
    shown = _invoke(env, "users", "show", user_id)
    assert shown.exit_code == 0, shown.output
    lines = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert lines["roles"] == "admin ops"
    assert lines["email_verified"] == "true"
    assert _invoke(env, "users", "update", user_id).exit_code == 2  # nothing to change
    missing = _invoke(env, "users", "show", "u_nobody")
    assert missing.exit_code == 1
    assert "no user u_nobody" in missing.stderr


def test_users_disable_revokes_their_grants_and_enable_restores_sign_in(
    env: dict[str, str], database_settings: DatabaseSettings, secrets_seen: SecretsSeen
) -> None:
    user_id = _a_user(env, secrets_seen, "bob@example.org")
    client = _invoke(env, "clients", "create", "--name", "RP", "--grant", "authorization_code",
                     "--grant", "refresh_token", "--redirect-uri", "https://rp.example/cb",
                     "--json")  # fmt: skip
    client_id = json.loads(client.stdout)["client_id"]
    secrets_seen.add(json.loads(client.stdout)["client_secret"])
    now = datetime.now(UTC)
    token = RefreshToken(
        id=random_id("rt_"), grant_id=random_id("g_"), client_id=client_id, user_id=user_id,
        scopes=frozenset({"openid", "offline_access"}), auth_time=now, acr=None,
        expires_at=now + timedelta(days=1),
    )  # fmt: skip

    async def seed() -> None:
        database = open_database(database_settings)
        try:
            await SqlRefreshTokens(database).save(token, "hash-of-the-refresh-token")
        finally:
            await database.close()

    async def stored() -> RefreshToken | None:
        database = open_database(database_settings)
        try:
            return await SqlRefreshTokens(database).find("hash-of-the-refresh-token")
        finally:
            await database.close()

    asyncio.run(seed())
    disabled = _invoke(env, "users", "disable", user_id)
    assert disabled.exit_code == 0, disabled.output
    assert json.loads(_invoke(env, "users", "show", user_id, "--json").stdout)["disabled"] is True
    found = asyncio.run(stored())
    assert found is not None
    assert found.revoked_at is not None
    assert _invoke(env, "users", "enable", "bob@example.org").exit_code == 0
    assert json.loads(_invoke(env, "users", "show", user_id, "--json").stdout)["disabled"] is False


def test_users_set_password_and_delete(
    env: dict[str, str], database_settings: DatabaseSettings, secrets_seen: SecretsSeen
) -> None:
    user_id = _a_user(env, secrets_seen, "cy@example.org")
    new_password = secrets_seen.add("the second password 42")
    changed = CliRunner().invoke(
        app, ["users", "set-password", user_id], input=f"{new_password}\n{new_password}\n", env=env
    )
    assert changed.exit_code == 0, changed.output

    async def verifies() -> bool:
        database = open_database(database_settings)
        try:
            user = await SqlUsers(database, SystemClock()).by_id(user_id)
        finally:
            await database.close()
        assert user is not None
        return await PasswordHasher().verify(new_password, user.password_hash)

    assert asyncio.run(verifies())
    assert _invoke(env, "users", "set-password", user_id, "--password", "short").exit_code == 2
    assert _invoke(env, "users", "delete", "cy@example.org").exit_code == 0
    assert _invoke(env, "users", "show", user_id).exit_code == 1
    assert _invoke(env, "users", "delete", user_id).exit_code == 1


def test_clients_update_and_show_read_as_text(env: dict[str, str]) -> None:
    created = _invoke(env, "clients", "create", "--name", "SPA", "--public",
                      "--redirect-uri", "http://localhost:3000/cb", "--json")  # fmt: skip
    client_id = json.loads(created.stdout)["client_id"]
    updated = _invoke(env, "clients", "update", client_id, "--name", "New SPA",
                      "--redirect-uri", "http://localhost:3000/a",
                      "--redirect-uri", "http://localhost:3000/b",
                      "--scope", "openid email")  # fmt: skip
    assert updated.exit_code == 0, updated.output
    lines = dict(line.split(None, 1) for line in updated.stdout.splitlines())
    assert lines["name"] == "New SPA"
    assert lines["redirect_uris"] == "http://localhost:3000/a http://localhost:3000/b"
    assert set(lines["scope"].split()) == {"openid", "email"}
    shown = json.loads(_invoke(env, "clients", "show", client_id, "--json").stdout)
    assert shown["name"] == "New SPA"
    bad = _invoke(env, "clients", "update", client_id, "--redirect-uri", "https://a/*")
    assert bad.exit_code == 2
    assert _invoke(env, "clients", "update", "c_nobody", "--name", "x").exit_code == 1


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


def test_clients_disable_and_enable(env: dict[str, str], secrets_seen: SecretsSeen) -> None:
    created = _invoke(env, "clients", "create", "--name", "Batch", "--grant", "client_credentials",
                      "--json")  # fmt: skip
    client_id = json.loads(created.stdout)["client_id"]
    secrets_seen.add(json.loads(created.stdout)["client_secret"])
    assert _invoke(env, "clients", "disable", client_id).exit_code == 0
    assert json.loads(_invoke(env, "clients", "show", client_id, "--json").stdout)["disabled"]
    assert f"{client_id}  confidential" in _invoke(env, "clients", "list").stdout
    assert "[disabled]" in _invoke(env, "clients", "list").stdout
    assert _invoke(env, "clients", "enable", client_id).exit_code == 0
    shown = json.loads(_invoke(env, "clients", "show", client_id, "--json").stdout)
    assert shown["disabled"] is False
    assert _invoke(env, "clients", "disable", "c_nobody").exit_code == 1


def test_initial_token_create_prints_a_token_once(
    env: dict[str, str], secrets_seen: SecretsSeen
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["clients", "initial-token", "create", "--expires", "2h", "--max-uses", "3", "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    secrets_seen.add(made["initial_access_token"])
    assert made["expires_in"] == 7200
    assert len(made["initial_access_token"]) >= 43
    for bad in ("soon", "0", "400d", "-5m"):
        refused = runner.invoke(
            app, ["clients", "initial-token", "create", "--expires", bad], env=env
        )
        assert refused.exit_code != 0
        assert "--expires" in refused.output


def test_clients_list_shows_where_each_client_came_from(env: dict[str, str]) -> None:
    runner = CliRunner()
    made = runner.invoke(
        app, ["clients", "create", "--name", "From CLI", "--grant", "client_credentials", "--json"],
        env=env,
    )  # fmt: skip
    client_id = json.loads(made.stdout)["client_id"]
    listed = runner.invoke(app, ["clients", "list"], env=env)
    line = next(row for row in listed.stdout.splitlines() if row.startswith(client_id))
    assert " cli " in line
    shown = json.loads(runner.invoke(app, ["clients", "show", client_id, "--json"], env=env).stdout)
    assert shown["source"] == "cli"


def test_clients_create_a_ciba_client_in_ping_mode(
    env: dict[str, str], secrets_seen: SecretsSeen
) -> None:
    created = _invoke(env, "clients", "create", "--name", "Kiosk",
                      "--grant", "urn:openid:params:grant-type:ciba", "--scope", "openid",
                      "--ciba-mode", "ping", "--ciba-notification-endpoint",
                      "https://kiosk.example/ciba", "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    made = json.loads(created.stdout)
    secrets_seen.add(made["client_secret"])
    shown = json.loads(_invoke(env, "clients", "show", made["client_id"], "--json").stdout)
    assert shown["backchannel_token_delivery_mode"] == "ping"
    assert shown["backchannel_client_notification_endpoint"] == "https://kiosk.example/ciba"
    refused = _invoke(env, "clients", "create", "--name", "Kiosk", "--grant",
                      "urn:openid:params:grant-type:ciba", "--ciba-mode", "ping")  # fmt: skip
    assert refused.exit_code == 2


def test_clients_create_a_pairwise_client_with_the_admin_apis_checks(env: dict[str, str]) -> None:
    runner = CliRunner()
    pairwise = ["clients", "create", "--name", "Pairwise", "--redirect-uri",
                "https://rp.example/cb", "--subject-type", "pairwise", "--json"]  # fmt: skip
    # OIDC Core §8.1: pairwise subjects are derived with the provider's salt.
    refused = runner.invoke(app, pairwise, env=env)
    assert refused.exit_code == 1
    assert "TOKEND_OIDC__PAIRWISE_SALT" in refused.output
    salted = {**env, "TOKEND_OIDC__PAIRWISE_SALT": "a pairwise salt of enough length"}
    made = runner.invoke(app, pairwise, env=salted)
    assert made.exit_code == 0, made.output
    shown = runner.invoke(app, ["clients", "show", json.loads(made.stdout)["client_id"], "--json"],
                          env=salted)  # fmt: skip
    assert json.loads(shown.stdout)["subject_type"] == "pairwise"
    # OIDC Registration §5: the sector document is fetched and must list the redirect URIs;
    # like every URL tokend fetches, a private address is refused by the outbound policy.
    private = runner.invoke(
        app, [*pairwise, "--sector-identifier-uri", "https://10.0.0.1/sector.json"], env=salted
    )
    assert private.exit_code == 1
    assert "sector_identifier_uri could not be fetched" in private.output
    plain = runner.invoke(
        app, [*pairwise, "--sector-identifier-uri", "http://rp.example/sector.json"], env=salted
    )
    assert plain.exit_code == 2
    assert "https" in plain.output
