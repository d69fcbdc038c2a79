"""schemathesis against the OpenAPI operations of the OpenID provider and its admin API, on a
real demo server: whatever it sends, no 5xx, and errors come in the surface's JSON body."""

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

OIDC_PATHS = (
    "/token", "/userinfo", "/introspect", "/revoke", "/admin/clients", "/admin/users",
    "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
)  # fmt: skip
ADMIN_TOKEN = "fuzz-admin-token-" + TEST_SECRET_KEY[-12:]
ERROR_TYPES = ("application/json", "application/problem+json")


@pytest.fixture(scope="module")
def oidc_server(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("oidc-fuzz")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(ADMIN_TOKEN)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ENV="demo",
        TOKEND_DEMO_DATA="true",
        TOKEND_MODULES="oidc",
        TOKEND_LOG__ACCESS_LOG="false",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    yield server
    assert server.stop() == 0
    assert "request.crashed" not in server.log()


def test_no_input_makes_an_oidc_endpoint_fail(oidc_server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{oidc_server.base_url}/openapi.json")
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(OIDC_PATHS)
    ]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def no_server_error(case: schemathesis.Case) -> None:
            # The admin API is fuzzed past its guard, so its validation is exercised too.
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if "/admin/" in case.path else {}
            response = case.call(base_url=oidc_server.base_url, headers=headers, timeout=30)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (label, response.text[:500])
            if response.status_code >= 400:
                (content_type,) = response.headers["content-type"]
                assert content_type.startswith(ERROR_TYPES), (label, content_type)
                assert "Traceback" not in response.text, label

        no_server_error()
