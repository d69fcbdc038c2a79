"""docs/recipes/google-business-profile.md agrees with the vault it describes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest

from tests.recipes import RECIPES, code_blocks, shell_commands
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.webhook_signature import SIGNATURE_HEADER, sign
from tokend.vault.access import EXCHANGE
from tokend.vault.events import EventType
from tokend.vault.providers import load_catalog
from tokend.vault.routes.exchange import GRANT_TYPE, RESOURCE_PREFIX
from tokend.vault.schemas import ClientCreate

RECIPE = RECIPES / "google-business-profile.md"
TEXT = RECIPE.read_text()


@pytest.fixture(scope="module")
def verify() -> Callable[[str, str, bytes], bool]:
    (program,) = code_blocks(RECIPE, "python")
    namespace: dict[str, object] = {}
    exec(compile(program, str(RECIPE), "exec"), namespace)  # noqa: S102  (our own document)
    function = namespace["verify"]
    assert callable(function)
    return function


def test_the_webhook_verifier_accepts_the_vaults_signatures_only(
    verify: Callable[[str, str, bytes], bool],
) -> None:
    secret = "a-webhook-secret-0123456789"
    body = json.dumps({"id": "evt_1", "type": "connection.connected"}).encode()
    now = int(time.time())
    assert verify(secret, sign(secret, now, body), body)
    assert not verify(secret, sign(secret, now, body), body + b" ")
    assert not verify("another-secret-0123456789", sign(secret, now, body), body)
    assert not verify(secret, sign(secret, now - 3600, body), body)  # a replay
    assert not verify(secret, "v1=abc", body)
    assert f"`{SIGNATURE_HEADER}: t=<unix seconds>,v1=" in TEXT


def test_every_event_type_is_documented() -> None:
    documented = set(re.findall(r"\| `(connection\.[a-z_]+)` \|", TEXT))
    assert documented == {kind.value for kind in EventType}


def test_the_client_registration_body_is_one_the_vault_takes() -> None:
    (body,) = code_blocks(RECIPE, "json")
    spec = ClientCreate.model_validate(json.loads(body))
    assert spec.provider == "google"
    assert str(spec.redirect_uri).endswith("/vault/auth/callback")
    assert f"`{spec.redirect_uri}`" in TEXT  # the redirect URI to register at Google


def test_the_paths_scope_and_resource_are_the_vaults() -> None:
    paths = create_app(Settings()).openapi()["paths"]
    for path in ("/vault/auth/callback", "/vault/clients", "/vault/oauth/start/{client_id}",
                 "/vault/token", "/vault/tokens/validate/{client_id}"):  # fmt: skip
        assert path in paths
        assert path.split("{")[0].rstrip("/") in TEXT
    assert f"resource={RESOURCE_PREFIX}3" in TEXT
    assert f"grant_type={GRANT_TYPE}" in TEXT
    google = load_catalog(None).get("google")
    assert google is not None
    assert "https://www.googleapis.com/auth/business.manage" in google.default_scopes
    assert "https://www.googleapis.com/auth/business.manage" in TEXT


def test_the_service_client_command_asks_for_the_exchange_scope_and_one_tenant() -> None:
    (words,) = [w for w in shell_commands(RECIPE, "tokend") if w[:2] == ["clients", "create"]]
    assert words[words.index("--scope") + 1] == EXCHANGE
    assert words[words.index("--vault-client") + 1] == "3"
    assert words[words.index("--audience") + 1] == "https://id.example.com/admin"


@pytest.mark.parametrize(
    "setting", ["TOKEND_VAULT__WEBHOOK_TIMEOUT_S", "TOKEND_JOBS__MAX_RETRIES",
                "TOKEND_JOBS__RETRY_BACKOFF_S", "TOKEND_VAULT__API_TOKEN"],
)  # fmt: skip
def test_the_settings_named_exist(setting: str) -> None:
    assert setting in TEXT
    block, field = setting.removeprefix("TOKEND_").lower().split("__")
    assert field in type(getattr(Settings(), block)).model_fields
