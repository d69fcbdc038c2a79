from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from tests.secrets_seen import SecretsSeen
from tokend.core.environment import Environment
from tokend.obs.logging import configure_logging
from tokend.obs.settings import LogSettings

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVlLWhlcmUtbG9uZw"


@pytest.fixture
def json_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    configure_logging(LogSettings(format="json", level="debug"), Environment.PRODUCTION)
    log = structlog.get_logger("tokend.test")
    with structlog.contextvars.bound_contextvars(request_id="req-7"):
        log.info("client.authenticated", client_id="web", client_secret="hunter2hunter2")
        log.debug(
            "upstream.call",
            url="https://op.example/token?code=abc123def456",
            body={"password": "pw-123456"},
        )
    logging.getLogger("httpx").info("HTTP Request: POST https://x/t?access_token=%s", JWT)
    err = capfd.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_logs_are_json_lines_with_the_request_id(json_lines: list[dict[str, object]]) -> None:
    first = json_lines[0]
    assert first["event"] == "client.authenticated"
    assert first["request_id"] == "req-7"
    assert first["level"] == "info"
    assert "timestamp" in first


def test_secrets_never_reach_the_log_output(json_lines: list[dict[str, object]]) -> None:
    text = json.dumps(json_lines)
    for secret in ("hunter2hunter2", "abc123def456", "pw-123456", JWT):
        assert secret not in text
    assert json_lines[0]["client_id"] == "web"  # what is not secret stays readable


def test_the_session_check_finds_a_registered_secret_in_a_log(tmp_path: Path) -> None:
    seen = SecretsSeen()
    log = tmp_path / "server.log"
    log.write_text("INFO something happened with value very-secret-value-1\n")
    seen.add_log_file(log)
    assert seen.leaks() == []
    seen.add("very-secret-value-1")
    assert len(seen.leaks()) == 1
    log.write_text(f"token {JWT}\n")  # a JWT is caught by its shape, registered or not
    leaks = seen.leaks()
    assert len(leaks) == 1
    assert leaks[0].startswith("server.log: eyJ")
