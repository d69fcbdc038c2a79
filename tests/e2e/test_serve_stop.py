"""Stopping ``tokend serve`` on either server: a stop is prompt with nothing in flight, and never
waits past ``server.shutdown_timeout_s`` for a client that holds a request open."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env

SHUTDOWN_TIMEOUT_S = 2
#: A clean exit, or (uvicorn) the SIGTERM re-raised once its shutdown is done, as uvicorn does.
STOPPED = (0, -signal.SIGTERM)


def serve(tmp_path: Path, server_kind: str, modules: str, **env: str) -> tuple[Server, int]:
    """A demo server of ``modules`` on ``server_kind``, ``env`` added; and its port."""
    port = free_port()
    full_env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ENV="demo",
        TOKEND_DEMO_DATA="true",
        TOKEND_MODULES=modules,
        TOKEND_SERVER__SERVER=server_kind,
        **env,
    )
    command = [*TOKEND, "serve", "--port", str(port)]
    return start(command, full_env, port, tmp_path / "serve.log"), port


@pytest.mark.parametrize("server_kind", ["uvicorn", "granian"])
def test_a_stop_cuts_a_request_held_open_after_the_shutdown_timeout(
    tmp_path: Path, server_kind: str
) -> None:
    server, port = serve(
        tmp_path,
        server_kind,
        "oidc",
        TOKEND_SERVER__SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        TOKEND_SERVER__BODY_TIMEOUT_S="60",  # the body's own deadline is not what ends it
    )
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        # A request whose body never finishes: the app is inside it, waiting to read.
        held.sendall(
            b"POST /token HTTP/1.1\r\nhost: t\r\n"
            b"content-type: application/x-www-form-urlencoded\r\ncontent-length: 1000\r\n\r\n"
            b"grant_type="
        )
        time.sleep(0.5)
        stopped_at = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout_s=SHUTDOWN_TIMEOUT_S + 15)
        took = time.monotonic() - stopped_at
    finally:
        held.close()
    assert code in STOPPED, server.log()[-3000:]
    assert took < SHUTDOWN_TIMEOUT_S + 8, took
    # The held request was cut (its connection closed), then the lifespan's shutdown ran.
    assert "tokend.stopped" in server.log()


@pytest.mark.parametrize("server_kind", ["uvicorn", "granian"])
def test_an_idle_server_stops_at_once_and_runs_its_shutdown(
    tmp_path: Path, server_kind: str
) -> None:
    server, _ = serve(tmp_path, server_kind, "gateway")
    stopped_at = time.monotonic()
    assert server.stop(signal.SIGTERM) in STOPPED, server.log()[-3000:]
    assert time.monotonic() - stopped_at < 5
    assert "tokend.stopped" in server.log()  # the lifespan's shutdown ran
