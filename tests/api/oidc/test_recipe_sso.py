"""docs/recipes/sso.md, followed: its clients registered with its commands, its flows run."""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from tests.api.oidc.conftest import code_params, pkce_pair, query_of, sign_in_and_consent
from tests.recipes import RECIPES, shell_commands
from tests.secrets_seen import SecretsSeen
from tokend.cli.main import app
from tokend.config import Settings

RECIPE = RECIPES / "sso.md"


def _option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def _form(words: list[str], values: dict[str, str]) -> dict[str, str]:
    """The ``-d name=value`` fields of a curl line, its ``$VARIABLES`` filled in."""
    form = {}
    for flag, field in itertools.pairwise(words):
        if flag == "-d":
            name, _, value = field.partition("=")
            form[name] = values.get(value, value)
    return form


@pytest.fixture
def cli_env(oidc_settings: Settings) -> dict[str, str]:
    env = {
        "TOKEND_DATABASE__URL": oidc_settings.database.url,
        "TOKEND_SECRET_KEY": oidc_settings.effective_secret_key(),
    }
    if oidc_settings.database.schema_name:
        env["TOKEND_DATABASE__SCHEMA_NAME"] = oidc_settings.database.schema_name
    return env


async def registered(
    cli_env: dict[str, str], name: str, secrets_seen: SecretsSeen
) -> dict[str, Any]:
    """The recipe's ``tokend clients create --name NAME …`` run as written (in a thread: the
    command runs its own event loop)."""
    (words,) = [
        w for w in shell_commands(RECIPE, "tokend") if w[:2] == ["clients", "create"]
        and _option(w, "--name") == name
    ]  # fmt: skip
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, words, env=cli_env))
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    if created["client_secret"]:
        secrets_seen.add(created["client_secret"])
    created["redirect_uri"] = _option(words, "--redirect-uri")
    created["scope"] = _option(words, "--scope")
    return created


def curl_form(fragment: str, values: dict[str, str]) -> dict[str, str]:
    """The form of the recipe's curl line whose URL or fields contain ``fragment``."""
    (words,) = [w for w in shell_commands(RECIPE, "curl") if any(fragment in x for x in w)]
    return _form(words, values)


async def test_the_server_rendered_app_gets_a_refresh_token_with_offline_access(
    http: httpx.AsyncClient,
    user: dict[str, Any],
    cli_env: dict[str, str],
    secrets_seen: SecretsSeen,
) -> None:
    shop = await registered(cli_env, "shop", secrets_seen)
    assert "offline_access" in shop["scope"].split()
    verifier, challenge = pkce_pair()
    params = code_params(
        shop["client_id"], challenge, redirect_uri=shop["redirect_uri"], scope=shop["scope"]
    )
    query = await sign_in_and_consent(http, params, user["email"])
    form = curl_form(
        "shop.example.com/auth/callback", {"$CODE": query["code"], "$VERIFIER": verifier}
    )
    assert form["grant_type"] == "authorization_code"
    auth = (shop["client_id"], shop["client_secret"])
    tokens = (await http.post("/token", data=form, auth=auth)).json()
    assert {"access_token", "id_token", "refresh_token"} <= set(tokens)
    refreshed = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    # What the recipe warns about: without offline_access, no refresh token.
    verifier, challenge = pkce_pair()
    params = code_params(
        shop["client_id"], challenge, redirect_uri=shop["redirect_uri"], scope="openid email"
    )
    # Signed in, and consented: /authorize answers with the code at once.
    query = query_of((await http.get("/authorize", params=params)).headers["location"])
    form["code"], form["code_verifier"] = query["code"], verifier
    without = (await http.post("/token", data=form, auth=auth)).json()
    assert "access_token" in without
    assert "refresh_token" not in without


async def test_the_spa_is_a_public_client_with_pkce_and_rotating_refresh_tokens(
    http: httpx.AsyncClient,
    user: dict[str, Any],
    cli_env: dict[str, str],
    secrets_seen: SecretsSeen,
) -> None:
    spa = await registered(cli_env, "shop-spa", secrets_seen)
    assert spa["client_secret"] is None
    verifier, challenge = pkce_pair()
    params = code_params(
        spa["client_id"], challenge, redirect_uri=spa["redirect_uri"], scope=spa["scope"]
    )
    query = await sign_in_and_consent(http, params, user["email"])
    form = curl_form(
        "spa.example.com/callback",
        {"$CODE": query["code"], "$VERIFIER": verifier, "$CLIENT_ID": spa["client_id"]},
    )
    tokens = (await http.post("/token", data=form)).json()
    assert "refresh_token" in tokens
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": spa["client_id"],
    }
    assert (await http.post("/token", data=refresh)).status_code == 200
    reused = await http.post("/token", data=refresh)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
