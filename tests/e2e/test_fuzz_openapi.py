"""schemathesis drives every operation of the OpenAPI document against a real server:
whatever it sends, the answer is never a 5xx and errors come in a standard body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

ERROR_TYPES = ("application/json", "application/problem+json")


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ENV="demo",
        TOKEND_DEMO_DATA="true",
        TOKEND_LOG__ACCESS_LOG="false",
    )
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    yield server
    assert server.stop() == 0
    assert "request.crashed" not in server.log()


@pytest.fixture(scope="module")
def api_schema(live_server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case: schemathesis.Case, live_server: Server) -> None:
    response = case.call(base_url=live_server.base_url, timeout=10)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith(ERROR_TYPES)
        assert "Traceback" not in response.text
