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


def test_a_stop_never_waits_past_the_shutdown_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # granian waits for a worker that does not stop forever unless told (a two-worker server
    # stopped right after start hung a test); uvicorn closes connections after its graceful
    # shutdown timeout.
    from granian import server as granian_server

    from tokend.cli.granian_server import serve_workers
    from tokend.server.settings import ServerSettings

    server = ServerSettings(shutdown_timeout_s=7)
    assert main.uvicorn_options(server)["timeout_graceful_shutdown"] == 7
    made: dict[str, object] = {}

    class Recorded:
        def __init__(self, *_args: object, **kwargs: object) -> None:
            made.update(kwargs)

        def serve(self) -> None:
            return

    monkeypatch.setattr(granian_server, "Server", Recorded)
    serve_workers(server, "tokend.app:app_from_environment")
    assert made["workers_kill_timeout"] == 7
    assert ServerSettings().shutdown_timeout_s == 10
