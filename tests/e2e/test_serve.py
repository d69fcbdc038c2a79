"""A real ``tokend`` process: `make run`, the probes, the CLI sharing its database, shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL, RUN_ID, TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e


def test_make_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    port = free_port()
    log_path = tmp_path / "make-run.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    started = time.monotonic()
    server = start(["make", "-s", "run", f"PORT={port}"], env, port, log_path, timeout_s=60)
    assert time.monotonic() - started < 60
    try:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            assert client.get("/ready").json()["status"] == "ok"
            assert client.get("/.well-known/jwks.json").json()["keys"]
            assert "http_requests_total" in client.get("/metrics").text
            assert client.get("/docs").status_code == 200
    finally:
        code = server.stop()
    log = server.log()
    assert "/.well-known/jwks.json" in log  # the banner lists the URLs
    assert "tokend.stopped" in log
    assert "Traceback" not in log
    # make re-raises the SIGINT it got after its child stopped (-2), or reports it (130, 2).
    assert code in (0, 130, 2, -signal.SIGINT)


def test_cli_and_server_share_one_database_and_rotation_reaches_the_jwks(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_KEYS__REFRESH_INTERVAL_S="0.3",
    )
    subprocess.run([*TOKEND, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        before = {
            k["kid"] for k in httpx.get(f"{server.base_url}/.well-known/jwks.json").json()["keys"]
        }
        rotated = subprocess.run(
            [*TOKEND, "keys", "rotate", "--alg", "ES256"],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        assert rotated.returncode == 0
        deadline = time.monotonic() + 10
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.2)
            after = {
                k["kid"]
                for k in httpx.get(f"{server.base_url}/.well-known/jwks.json").json()["keys"]
            }
        assert after > before  # the old keys stay published; the new next key appears
    finally:
        assert server.stop() == 0


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.skipif(POSTGRES_URL is None or REDIS_URL is None, reason="needs PostgreSQL and Redis")
def test_serve_on_postgres_and_redis_is_ready(tmp_path: Path, secrets_seen: SecretsSeen) -> None:
    assert POSTGRES_URL is not None
    assert REDIS_URL is not None
    port = free_port()
    log_path = tmp_path / "serve-pg.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=POSTGRES_URL,
        TOKEND_DATABASE__SCHEMA_NAME=f"e2e_{RUN_ID}",
        TOKEND_REDIS__URL=REDIS_URL,
        TOKEND_REDIS__KEY_PREFIX=f"tokend-e2e:{RUN_ID}:",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
    )
    subprocess.run([*TOKEND, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        ready = httpx.get(f"{server.base_url}/ready").json()
        assert ready == {
            "status": "ok",
            "checks": {"database": "ok", "cache": "ok"},
        }  # "memory" without Redis
    finally:
        assert server.stop() == 0
        _drop_schema(f"e2e_{RUN_ID}")


def _drop_schema(schema: str) -> None:
    import asyncio

    from tests.conftest import _drop_schema as drop

    assert POSTGRES_URL is not None
    asyncio.run(drop(POSTGRES_URL, schema))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"TOKEND_ENV": "production"},
            ["TOKEND_SECRET_KEY is not set", "TOKEND_METRICS__PORT or TOKEND_METRICS__TOKEN"],
        ),
        (
            {
                "TOKEND_ENV": "production",
                "TOKEND_ISSUER": "http://id.example.com",
                "TOKEND_SECRET_KEY": "weak",
                "TOKEND_METRICS__PORT": "9464",
            },
            ["TOKEND_SECRET_KEY is too weak", "must use https"],
        ),
        ({"TOKEND_MODULES": "oidc,nonsense"}, ["invalid setting modules"]),
        ({"TOKEND_KEYS__LEEWAY_S": "-4"}, ["invalid setting keys.leeway_s"]),
        # Across blocks: a retired key must outlive what it signed (a client token: up to a day).
        (
            {"TOKEND_KEYS__RETIRED_RETENTION_S": "3600"},
            ["keys.retired_retention_s (3600) must be at least 86460 s"],
        ),
        # Found by a capability's build: each setting is valid, together they cannot work.
        (
            {"TOKEND_MODULES": "telco", "TOKEND_TELCO__ID": "bench"},
            ["operator bench needs telco.clients and telco.valid_codes"],
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_clear_line_per_problem(
    env: dict[str, str], expected: list[str]
) -> None:
    result = subprocess.run(
        [*TOKEND, "serve", "--port", "1"],
        env=tokend_env(**env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(expected)
    for line, words in zip(lines, expected, strict=True):
        assert line.startswith("tokend: ")
        assert words in line
    assert "Traceback" not in result.stderr + result.stdout


def test_config_show_masks_secrets() -> None:
    secret = "show-me-not-" + os.urandom(8).hex()
    result = subprocess.run(
        [*TOKEND, "config", "show", "--json"],
        env=tokend_env(
            TOKEND_SECRET_KEY=secret,
            TOKEND_DATABASE__URL=f"postgresql+asyncpg://app:{secret}@db/tokend",
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert secret not in result.stdout
    shown = json.loads(result.stdout)
    assert shown["secret_key"] == "**********"
    assert shown["database"]["url"] == "postgresql+asyncpg://app:***@db/tokend"


@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["migrate"], ["keys", "list"]], ids=" ".join
)
def test_an_unreachable_database_is_one_line_and_exit_1(command: list[str]) -> None:
    secret = "db-password-" + os.urandom(6).hex()
    result = subprocess.run(
        [*TOKEND, *command],
        env=tokend_env(TOKEND_DATABASE__URL=f"postgresql+asyncpg://app:{secret}@127.0.0.1:1/x"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    output = result.stderr + result.stdout
    assert "Traceback" not in output
    assert secret not in output
    lines = [line for line in result.stderr.splitlines() if line.startswith("tokend: ")]
    assert lines == [lines[0]]
    assert "cannot be reached" in lines[0]


@pytest.mark.parametrize(
    "command",
    [["serve", "--only", "gateway", "--port", "0"], ["serve", "--port", "0"], ["worker"]],
    ids=" ".join,
)
def test_an_unmigrated_database_is_one_line_saying_run_migrate_and_exit_2(
    command: list[str], tmp_path: Path
) -> None:
    result = subprocess.run(
        [*TOKEND, *command],
        env=tokend_env(TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("tokend: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("run `tokend migrate`")
