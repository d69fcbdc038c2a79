"""schemathesis drives every operation of the OpenAPI document against a real server:
whatever it sends, the answer is never a 5xx and errors come in a standard body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

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


def test_no_input_makes_the_server_fail(live_server: Server) -> None:
    # The schema comes from the running server, so it is loaded inside the test (schemathesis'
    # pytest fixture loader does not work with this pytest); each operation gets its own
    # hypothesis run, and a failure names the operation.
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5  # the document really lists the routes

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(base_url=live_server.base_url, timeout=10)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (label, response.text[:500])
            if response.status_code >= 400:
                # schemathesis gives each header as the list of its values
                (content_type,) = response.headers["content-type"]
                assert content_type.startswith(ERROR_TYPES), (label, content_type)
                assert "Traceback" not in response.text, label

        no_server_error()
