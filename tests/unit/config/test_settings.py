from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tokend.cli.handoff import handed_off
from tokend.config import INSECURE_DEV_SECRET_KEY, Settings, load_handoff
from tokend.core.environment import Environment
from tokend.oidc.settings import CLIENT_TOKEN_TTL_MAX_S
from tokend.server.settings import ServerSettings

STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789"


def test_nested_environment_variables_fill_the_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEND_DATABASE__URL", "postgresql+asyncpg://db/tokend")
    monkeypatch.setenv("TOKEND_REDIS__URL", "redis://cache:6379/1")
    monkeypatch.setenv("TOKEND_MODULES", "broker, oidc")
    monkeypatch.setenv("TOKEND_ENV", "production")
    settings = Settings()
    assert settings.database.url == "postgresql+asyncpg://db/tokend"
    assert settings.redis.url is not None
    assert settings.redis.url.get_secret_value() == "redis://cache:6379/1"
    assert settings.modules == ["oidc", "broker"]  # mount order, not the order given
    assert settings.env is Environment.PRODUCTION


def test_unknown_module_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown module"):
        Settings(modules=["oidc", "kerberos"])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("tokend.yaml", "issuer: https://id.example.com\nkeys:\n  leeway_s: 5\n"),
        ("tokend.toml", 'issuer = "https://id.example.com"\n[keys]\nleeway_s = 5\n'),
    ],
)
def test_config_file_is_read_in_yaml_and_toml(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    settings = Settings(config_file=path)
    assert settings.issuer == "https://id.example.com"
    assert settings.keys.leeway_s == 5


def test_environment_wins_over_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tokend.yaml"
    path.write_text("issuer: https://file.example.com\n")
    monkeypatch.setenv("TOKEND_ISSUER", "https://env.example.com")
    assert Settings(config_file=path).issuer == "https://env.example.com"


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokend.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        Settings(config_file=path)


def test_issuer_must_be_an_absolute_url_without_query() -> None:
    with pytest.raises(ValidationError, match=r"issuer\n.*must be an absolute http\(s\) URL"):
        Settings(issuer="id.example.com")
    with pytest.raises(ValidationError, match=r"issuer\n.*must not have a query or fragment"):
        Settings(issuer="https://id.example.com/?tenant=1")
    assert Settings(issuer="https://id.example.com/").issuer == "https://id.example.com"


def test_production_lists_every_problem_at_once() -> None:
    settings = Settings(env="production", issuer="http://id.example.com", demo_data=True)
    problems = settings.production_problems()
    assert len(problems) == 4
    assert any("TOKEND_SECRET_KEY is not set" in p for p in problems)
    assert any("https" in p for p in problems)
    assert any("demo" in p for p in problems)
    assert any(p.startswith("TOKEND_METRICS__PORT or TOKEND_METRICS__TOKEN") for p in problems)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("short", "too weak"),
        ("a" * 40, "too weak"),
        (INSECURE_DEV_SECRET_KEY, "published"),
        # deploy/envs/common.env's, once committed; and any value someone meant to replace.
        ("placeholder-secret-key-replace-me-with-48-random-chars", "published"),
        ("please-change-me-" + "abcdefghijklmnopqrstuvwxyz", "published"),
    ],
)
def test_production_refuses_weak_or_published_secret_keys(key: str, why: str) -> None:
    settings = Settings(env="production", issuer="https://id.example.com", secret_key=key)
    assert any(p.startswith(f"TOKEND_SECRET_KEY is {why}") for p in settings.production_problems())


def test_production_accepts_a_strong_key_https_issuer_and_protected_metrics() -> None:
    settings = Settings(
        env="production",
        issuer="https://id.example.com",
        secret_key=STRONG_KEY,
        metrics={"port": 9464},
    )
    assert settings.production_problems() == []
    assert settings.effective_secret_key() == STRONG_KEY


@pytest.mark.parametrize(
    ("blocks", "variable"),
    [
        ({"admin_token": "x"}, "TOKEND_ADMIN_TOKEN"),
        ({"broker": {"admin_token": "placeholder-" + "b" * 32}}, "TOKEND_BROKER__ADMIN_TOKEN"),
        ({"gateway": {"admin_token": "y" * 40}}, "TOKEND_GATEWAY__ADMIN_TOKEN"),
        ({"telco": {"code_issuer_token": "short"}}, "TOKEND_TELCO__CODE_ISSUER_TOKEN"),
        ({"vault": {"api_token": "vault-token-replace-me-" + "v" * 32}}, "TOKEND_VAULT__API_TOKEN"),
        ({"vault": {"open_access": True}}, "TOKEND_VAULT__OPEN_ACCESS"),
        ({"guard": {"issuers": [{"issuer": "http://idp.example"}]}}, "TOKEND_GUARD__ISSUERS[0]"),
        (
            {"guard": {"issuers": [{"issuer": "https://a", "jwks_uri": "http://a/jwks"}]}},
            "TOKEND_GUARD__ISSUERS[0]",
        ),
    ],
)
def test_production_refuses_weak_tokens_an_open_vault_and_http_issuers(
    blocks: dict[str, object], variable: str
) -> None:
    settings = Settings.model_validate(
        {
            "env": "production",
            "issuer": "https://id.example.com",
            "secret_key": STRONG_KEY,
            "metrics": {"token": "m" + STRONG_KEY},
            **blocks,
        }
    )
    (problem,) = settings.production_problems()
    assert problem.startswith(f"{variable} ")


def test_a_loopback_guard_issuer_is_accepted_in_production() -> None:
    issuers = [{"issuer": "http://127.0.0.1:8080/realms/x"}]
    settings = Settings.model_validate(
        {
            "env": "production",
            "issuer": "https://id.example.com",
            "secret_key": STRONG_KEY,
            "metrics": {"port": 9464},
            "guard": {"issuers": issuers},
        }
    )
    assert settings.production_problems() == []


def test_api_docs_are_off_in_production_unless_asked_for() -> None:
    assert Settings().has_api_docs
    assert not Settings(env="production").has_api_docs
    assert Settings(env="production", server={"api_docs": True}).has_api_docs
    assert not Settings(server={"api_docs": False}).has_api_docs


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metrics": {"port": 9464, "token": "t" * 40}}, "not both"),
        ({"metrics": {"port": 8000}}, "must differ from server.port"),
        ({"metrics": {"port": 9464}, "server": {"workers": 2}}, "one process's metrics"),
    ],
)
def test_metrics_settings_that_cannot_work_are_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate(fields)


def test_forwarded_allow_ips_are_networks_and_none_by_default() -> None:
    assert Settings().server.forwarded_allow_ips == []
    server = ServerSettings.model_validate({"forwarded_allow_ips": ["10.0.0.0/8", "::1"]})
    assert [str(n) for n in server.forwarded_allow_ips] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ValidationError):
        ServerSettings.model_validate({"forwarded_allow_ips": ["*"]})


def test_development_falls_back_to_the_insecure_key_but_production_never_does() -> None:
    assert Settings().effective_secret_key() == INSECURE_DEV_SECRET_KEY
    with pytest.raises(ValueError, match="required in production"):
        Settings(env="production").effective_secret_key()


def test_handoff_to_worker_processes_keeps_secrets_out_of_the_environment() -> None:
    settings = Settings(secret_key=STRONG_KEY, redis={"url": "redis://:pw@cache/0"})
    with handed_off(settings) as path:
        assert STRONG_KEY not in "".join(os.environ.values())
        assert os.environ["TOKEND_HANDOFF_FILE"] == str(path)
        again = load_handoff()
    assert again.secret_key is not None
    assert again.secret_key.get_secret_value() == STRONG_KEY
    assert again == settings
    assert not path.exists()
    assert "TOKEND_HANDOFF_FILE" not in os.environ


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("0.0.0.0", "http://127.0.0.1:8123"),  # noqa: S104  (what a bind-all address dials)
        ("::", "http://127.0.0.1:8123"),
        ("::1", "http://[::1]:8123"),
        ("tokend.internal", "http://tokend.internal:8123"),
    ],
)
def test_the_server_knows_where_it_answers_itself(host: str, url: str) -> None:
    assert ServerSettings(host=host, port=8123).self_url == url


def test_retired_keys_are_kept_by_default_as_long_as_anything_they_signed_can_verify() -> None:
    # A client's own token lifetime may be a day; + 30 s leeway + one 30 s refresh interval.
    assert Settings().retired_key_retention_s() == CLIENT_TOKEN_TTL_MAX_S + 30 + 30


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ({"oidc": {"id_token_ttl_s": 200_000}}, 200_000 + 30 + 30),
        # oidc.access_token_ttl_s is capped at a day, as long as grant revocations last.
        ({"oidc": {"access_token_ttl_s": 86_400}}, 86_400 + 30 + 30),
        ({"broker": {"token_ttl_s": 100_000}}, 100_000 + 30 + 30),
        ({"telco": {"token_ttl_s": 90_000}}, 90_000 + 30 + 30),
        ({"guard": {"leeway_s": 300}, "keys": {"refresh_interval_s": 0.5}}, 86_400 + 300 + 1),
    ],
)
def test_the_default_retention_follows_the_longest_signed_token_lifetime(
    blocks: dict[str, dict[str, object]], expected: int
) -> None:
    settings = Settings.model_validate(blocks)
    assert settings.keys.retired_retention_s is None
    assert settings.retired_key_retention_s() == expected


def test_a_retention_shorter_than_a_signed_token_can_live_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOKEND_KEYS__RETIRED_RETENTION_S", "86459")
    with pytest.raises(ValidationError) as refused:
        Settings()
    (error,) = refused.value.errors()
    assert error["msg"] == (
        "Value error, keys.retired_retention_s (86459) must be at least 86460 s: tokens signed by "
        "a retired key live up to 86400 s (a client's access/ID token lifetime), plus leeway and "
        "the keyring refresh interval; leave it unset for that minimum"
    )
    with pytest.raises(ValidationError, match=r"up to 200000 s \(broker.token_ttl_s\)"):
        Settings(keys={"retired_retention_s": 200_000}, broker={"token_ttl_s": 200_000})


def test_a_longer_retention_is_kept() -> None:
    assert Settings(keys={"retired_retention_s": 86_460}).retired_key_retention_s() == 86_460
    week = Settings(keys={"retired_retention_s": 7 * 86_400})
    assert week.retired_key_retention_s() == 7 * 86_400


@pytest.mark.parametrize(
    ("accounts", "refused"),
    [
        ({}, False),  # RFC 9106 §4's second option, the default
        ({"argon2_memory_kib": 19_456, "argon2_time_cost": 2, "argon2_parallelism": 1}, False),
        ({"argon2_memory_kib": 47_104, "argon2_time_cost": 1}, False),  # OWASP's equivalents
        ({"argon2_memory_kib": 7_168, "argon2_time_cost": 6}, False),
        ({"argon2_memory_kib": 19_456, "argon2_time_cost": 1}, True),  # half the work
        ({"argon2_memory_kib": 4_096, "argon2_time_cost": 20}, True),  # too little memory
        ({"argon2_memory_kib": 64, "argon2_time_cost": 1}, True),  # the in-process tests' own
    ],
)
def test_production_refuses_password_hashing_cheaper_than_owasps_minimum(
    accounts: dict[str, int], refused: bool
) -> None:
    settings = Settings(
        env="production",
        issuer="https://id.example.com",
        secret_key=STRONG_KEY,
        metrics={"port": 9464},
        oidc={"accounts": accounts},
    )
    problems = settings.production_problems()
    assert problems == (
        [
            "TOKEND_OIDC__ACCOUNTS__ARGON2_MEMORY_KIB * TOKEND_OIDC__ACCOUNTS__ARGON2_TIME_COST "
            f"must be at least 38912 with at least 7168 KiB in production (got "
            f"{settings.oidc.accounts.argon2_memory_kib} KiB * "
            f"{settings.oidc.accounts.argon2_time_cost})"
        ]
        if refused
        else []
    )
