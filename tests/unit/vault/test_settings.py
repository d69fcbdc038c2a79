"""The vault's settings block."""

from __future__ import annotations

from tokend.config import Settings


def test_a_short_api_token_is_a_production_problem() -> None:
    weak = Settings(env="production", vault={"api_token": "short"})
    assert any("TOKEND_VAULT__API_TOKEN" in p for p in weak.production_problems())
    strong = Settings(env="production", vault={"api_token": "x" * 40})
    assert not any("TOKEND_VAULT__" in p for p in strong.production_problems())


def test_the_demo_provider_is_a_production_problem() -> None:
    with_demo = Settings(env="production", vault={"demo_provider": True})
    assert any("TOKEND_VAULT__DEMO_PROVIDER" in p for p in with_demo.production_problems())
    assert not any("TOKEND_VAULT__" in p for p in Settings(env="production").production_problems())
    # Outside production the demo provider is a setting like any other.
    assert Settings(vault={"demo_provider": True}).production_problems() == []
