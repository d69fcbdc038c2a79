"""``tokend serve --demo --only gateway`` as a real process: the banner's curl works."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = [pytest.mark.e2e]


def test_the_demo_banner_curl_gets_a_token_that_validates(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    port = free_port()
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
    )
    log = tmp_path / "serve.log"
    secrets_seen.add_log_file(log)
    server = start(
        [*TOKEND, "serve", "--demo", "--only", "gateway", "--port", str(port)], env, port, log
    )
    try:
        match = re.search(r"curl (-H '[^']+' \S+/tokens)", server.log())
        assert match is not None, server.log()
        _, header, url = shlex.split(match.group(1))
        name, _, value = header.partition(": ")
        response = httpx.get(url, headers={name: value}, timeout=5)
        assert response.status_code == 200, response.text
        token = secrets_seen.add(response.json()["access_token"])
        valid = httpx.get(
            url + "/validate", headers={name: value, "Authorization": f"Bearer {token}"}, timeout=5
        )
        health = httpx.get(f"{server.base_url}/health", timeout=5).json()
        preflight = httpx.options(
            url, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
        )
    finally:
        server.stop()
    assert valid.status_code == 200, valid.text
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "demo-consumer"
    assert health["gateway"]["source"] == "local"
    # Seed 004's /health and CORS when served alone (issue 24).
    assert health["status"] == "healthy"
    assert health["dependencies"]["database"] == {"status": "healthy"}
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
