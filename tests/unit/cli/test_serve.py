"""``tokend serve``: the settings it hands to the server, without starting one."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

from tokend.config import Settings

# tokend.cli re-exports the function ``main``, which hides the module of the same name.
main = importlib.import_module("tokend.cli.main")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    seen: list[Settings] = []
    monkeypatch.setattr(main, "run_server", seen.append)
    return seen


def test_an_unconfigured_issuer_follows_the_port(served: list[Settings]) -> None:
    result = CliRunner().invoke(main.app, ["serve", "--demo", "--port", "9123"], env={})
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert settings.issuer == "http://127.0.0.1:9123"
    assert settings.server.self_url == settings.issuer


def test_a_configured_issuer_is_kept(served: list[Settings]) -> None:
    env = {"TOKEND_ISSUER": "http://auth.example.test"}
    result = CliRunner().invoke(main.app, ["serve", "--demo", "--port", "9123"], env=env)
    assert result.exit_code == 0, result.output
    (settings,) = served
    assert settings.issuer == "http://auth.example.test"
