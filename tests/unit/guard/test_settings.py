"""Guard settings: seed-002 names as aliases, production checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tokend.config import Settings
from tokend.guard.settings import GuardSettings

STRONG = "s3cure-" + "Zq8wLp4T" * 5
LOGIN = {
    "KEYCLOAK_SERVER_URL": "https://kc.example.test",
    "KEYCLOAK_REALM": "demo",
    "KEYCLOAK_CLIENT_ID": "fastapi-app",
}


def test_seed_names_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEND_GUARD__KEYCLOAK_SERVER_URL", "http://localhost:8080")
    monkeypatch.setenv("TOKEND_GUARD__KEYCLOAK_REALM", "demo")
    monkeypatch.setenv("TOKEND_GUARD__KEYCLOAK_CLIENT_ID", "fastapi-app")
    monkeypatch.setenv("TOKEND_GUARD__KEYCLOAK_CLIENT_SECRET", "secret")
    monkeypatch.setenv("TOKEND_GUARD__JWKS_CACHE_TTL", "0")
    monkeypatch.setenv("TOKEND_GUARD__ADMIN_TOKEN_CACHE_TTL", "120")
    monkeypatch.setenv("TOKEND_GUARD__SESSION_SECRET_KEY", STRONG)
    guard = Settings().guard
    assert guard.keycloak_issuer == "http://localhost:8080/realms/demo"
    assert guard.client_id == "fastapi-app"
    assert guard.client_secret is not None
    assert guard.client_secret.get_secret_value() == "secret"
    assert (guard.jwks_cache_ttl_s, guard.admin_token_cache_ttl_s) == (0, 120)
    assert guard.session_secret_key is not None
    assert guard.login_enabled
    assert "secret" not in repr(guard.client_secret)


def test_seed_names_are_read_from_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "tokend.yaml"
    path.write_text("guard:\n  KEYCLOAK_REALM: demo\n  JWKS_CACHE_TTL: 1800\n  realm: orders\n")
    guard = Settings(config_file=path).guard
    assert (guard.keycloak_realm, guard.jwks_cache_ttl_s, guard.realm) == ("demo", 1800, "orders")


def test_field_names_work_too() -> None:
    guard = GuardSettings(jwks_cache_ttl_s=5, client_id="x")
    assert (guard.jwks_cache_ttl_s, guard.client_id) == (5, "x")


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"JWKS_CACHE_TTL": -1}, r"JWKS_CACHE_TTL\n.*greater than or equal to 0"),
        ({"post_login_path": "//evil.test"}, r"post_login_path\n.*should match pattern"),
        ({"algorithms": ["HS256"]}, r"algorithms\.0\n.*Input should be 'RS256'.*HS256"),
        ({"algorithms": ["none"]}, r"algorithms\.0\n.*Input should be 'RS256'.*'none'"),
    ],
)
def test_invalid_values_are_refused(bad: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        GuardSettings.model_validate(bad)


def production(guard: dict[str, object]) -> list[str]:
    settings = Settings(
        env="production", issuer="https://tokend.example.test", secret_key=STRONG, guard=guard
    )
    return [p for p in settings.production_problems() if "GUARD" in p]


def test_production_needs_a_strong_session_secret_when_login_is_on() -> None:
    assert production({**LOGIN, "KEYCLOAK_CLIENT_SECRET": "cs"}) == [
        "TOKEND_GUARD__SESSION_SECRET_KEY is required in production"
    ]
    weak = production(
        {**LOGIN, "KEYCLOAK_CLIENT_SECRET": "cs", "SESSION_SECRET_KEY": "dev-secret-change-me"}
    )
    assert weak == ["TOKEND_GUARD__SESSION_SECRET_KEY is too weak (at least 32 random characters)"]
    assert production({**LOGIN, "KEYCLOAK_CLIENT_SECRET": "cs", "SESSION_SECRET_KEY": STRONG}) == []


def test_production_refuses_plain_http_keycloak_and_insecure_cookies() -> None:
    problems = production(
        {
            **LOGIN,
            "KEYCLOAK_SERVER_URL": "http://kc.example.test",
            "KEYCLOAK_CLIENT_SECRET": "cs",
            "SESSION_SECRET_KEY": STRONG,
            "cookie_secure": False,
        }
    )
    assert problems == [
        "TOKEND_GUARD__COOKIE_SECURE must be true in production",
        "TOKEND_GUARD__KEYCLOAK_SERVER_URL must use https (got http://kc.example.test)",
    ]
    assert production({"KEYCLOAK_SERVER_URL": "http://localhost:8080"}) == []


def test_development_has_no_guard_problems() -> None:
    assert Settings(guard={**LOGIN}).production_problems() == []
