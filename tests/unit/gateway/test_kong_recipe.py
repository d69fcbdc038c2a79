"""docs/kong/kong.yml, the Kong side of docs/recipes/kong.md, agrees with tokend."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.recipes import DOCS, RECIPES
from tokend.app import create_app
from tokend.config import Settings
from tokend.gateway.settings import GatewaySettings

KONG = yaml.safe_load((DOCS / "kong" / "kong.yml").read_text())
DEFAULTS = GatewaySettings()


def _named(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [item for item in items if item["name"] == name]
    return found


def _plugin(service: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(_named(service["plugins"], name)["config"])


def test_the_file_is_kong_declarative_config() -> None:
    assert KONG["_format_version"] == "3.0"
    assert {s["name"] for s in KONG["services"]} == {"tokend-gateway", "orders-api"}


def test_kong_authenticates_the_key_and_sends_the_shared_secret_tokend_expects() -> None:
    gateway = _named(KONG["services"], "tokend-gateway")
    key_auth = _plugin(gateway, "key-auth")
    assert key_auth["hide_credentials"] is True
    assert key_auth["anonymous"] is None
    transformer = _plugin(gateway, "request-transformer")
    header = DEFAULTS.proxy_secret_header
    assert transformer["remove"]["headers"] == [header]
    (added,) = transformer["add"]["headers"]
    name, _, value = added.partition(":")
    assert name == header
    assert "TOKEND_GATEWAY__PROXY_SECRET" in value
    # Kong's key-auth sends these; tokend reads them by default.
    assert DEFAULTS.consumer_id_header == "x-consumer-id"
    assert DEFAULTS.consumer_username_header == "x-consumer-username"


def test_the_route_reaches_the_gateway_tokens_route_of_the_all_in_one_server() -> None:
    gateway = _named(KONG["services"], "tokend-gateway")
    (route,) = gateway["routes"]
    assert route["strip_path"] is True
    paths = create_app(Settings()).openapi()["paths"]
    base = urlsplit(gateway["url"]).path
    for client_path in ("/tokens", "/tokens/validate"):
        # Kong (path_handling v0): the service path, then what follows the route's path.
        assert f"{base}{client_path}" in paths
        assert f"{route['paths'][0]}{client_path}".startswith("/auth/")


def test_the_downstream_jwt_plugin_matches_the_gateways_tokens() -> None:
    jwt = _plugin(_named(KONG["services"], "orders-api"), "jwt")
    assert jwt["key_claim_name"] == "key"  # tokend.gateway.tokens.seed_claims
    assert "exp" in jwt["claims_to_verify"]
    assert jwt["maximum_expiration"] >= DEFAULTS.token_ttl_s
    for consumer in KONG["consumers"]:
        assert consumer["keyauth_credentials"]
        for secret in consumer["jwt_secrets"]:
            assert secret["algorithm"] == DEFAULTS.token_alg


@pytest.mark.parametrize("variable", ["PROXY_SECRET", "KONG_ADMIN_URL", "TRUSTED_PROXIES"])
def test_the_recipes_settings_are_tokends(variable: str) -> None:
    assert variable.lower() in GatewaySettings.model_fields
    text = (RECIPES / "kong.md").read_text()
    assert f"TOKEND_GATEWAY__{variable}=" in text
