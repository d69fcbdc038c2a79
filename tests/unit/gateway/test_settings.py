"""The gateway's settings block: seed 004's environment shapes and production checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tokend.config import Settings
from tokend.gateway.settings import GatewaySettings


def test_seed_style_lists_are_accepted() -> None:
    settings = GatewaySettings(
        issuer="https://a.example.com, https://b.example.com",
        audience="orders, billing",
        consumer_id_header="X-Consumer-ID",
    )
    assert settings.issuer == "https://a.example.com"
    assert settings.audience == ["orders", "billing"]
    assert settings.consumer_id_header == "x-consumer-id"


def test_a_short_proxy_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        GatewaySettings(proxy_secret="short")


def test_high_availability_stretches_the_stale_tolerance_only_with_redis() -> None:
    settings = GatewaySettings(high_availability=True)
    assert settings.stale_tolerance(has_redis=True) == 7200
    assert settings.stale_tolerance(has_redis=False) == 1800


def test_konnect_over_http_or_without_a_token_is_not_production_ready() -> None:
    settings = Settings(
        env="production",
        secret_key="k" * 16 + "abcdefghijklmnopqrstuvwx",
        issuer="https://tokend.example.com",
        gateway={"kong_mode": "KONNECT", "kong_admin_url": "http://eu.api.konghq.com/v2/cp/x"},
    )
    problems = settings.production_problems()
    assert any("must use https for Konnect" in p for p in problems)
    assert any("personal access token" in p for p in problems)
