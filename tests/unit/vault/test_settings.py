"""The vault's settings block."""

from __future__ import annotations

import secrets

from tokend.config import Settings


def test_a_short_or_uniform_api_token_is_a_production_problem() -> None:
    for token in ("short", "x" * 40):
        weak = Settings(env="production", vault={"api_token": token})
        assert any("TOKEND_VAULT__API_TOKEN" in p for p in weak.production_problems())
    strong = Settings(env="production", vault={"api_token": secrets.token_urlsafe(32)})
    assert not any("TOKEND_VAULT__" in p for p in strong.production_problems())


def test_an_open_vault_is_a_production_problem() -> None:
    open_vault = Settings(env="production", vault={"open_access": True})
    assert any("TOKEND_VAULT__OPEN_ACCESS" in p for p in open_vault.production_problems())
    assert Settings(vault={"open_access": True}).production_problems() == []


def test_the_demo_provider_is_a_production_problem() -> None:
    with_demo = Settings(env="production", vault={"demo_provider": True})
    assert any("TOKEND_VAULT__DEMO_PROVIDER" in p for p in with_demo.production_problems())
    assert not any("TOKEND_VAULT__" in p for p in Settings(env="production").production_problems())
    # Outside production the demo provider is a setting like any other.
    assert Settings(vault={"demo_provider": True}).production_problems() == []
