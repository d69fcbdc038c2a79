"""schemathesis against the OpenAPI operations of the OpenID provider and its admin API, on a
real demo server: whatever it sends, no 5xx, and errors come in the surface's JSON body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.fuzzing import assert_no_server_error, demo_server, operations_of
from tests.e2e.server import Server
from tests.secrets_seen import SecretsSeen

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase

pytestmark = pytest.mark.e2e

OIDC_PATHS = (
    "/token", "/par", "/userinfo", "/introspect", "/revoke", "/admin/clients", "/admin/users",
    "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
    "/register", "/device_authorization", "/backchannel-authentication",
)  # fmt: skip
#: Open dynamic registration (RFC 7591), not rate-limited, so /register is fuzzed past both.
REGISTRATION = {
    "TOKEND_OIDC__REGISTRATION__ENABLED": "true",
    "TOKEND_OIDC__REGISTRATION__MODE": "open",
    "TOKEND_OIDC__RATE_LIMITS__REGISTRATION_PER_IP": "100000/hour",
}
ADMIN_TOKEN = "fuzz-admin-token-" + TEST_SECRET_KEY[-12:]


@pytest.fixture(scope="module")
def oidc_server(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    secrets_seen.add(ADMIN_TOKEN)
    tmp = tmp_path_factory.mktemp("oidc-fuzz")
    with demo_server(
        tmp, secrets_seen, TOKEND_MODULES="oidc", TOKEND_ADMIN_TOKEN=ADMIN_TOKEN, **REGISTRATION
    ) as server:
        yield server


def admin_bearer(case: OpenApiCase) -> dict[str, str]:
    # The admin API is fuzzed past its guard, so its validation is exercised too.
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"} if "/admin/" in case.path else {}


def test_no_input_makes_an_oidc_endpoint_fail(oidc_server: Server) -> None:
    operations = [
        op for op in operations_of(oidc_server.base_url) if op.path.startswith(OIDC_PATHS)
    ]
    assert len(operations) >= 15
    assert {
        "/register", "/register/{client_id}", "/device_authorization",
        "/backchannel-authentication", "/backchannel-authentication/decisions",
    } <= {op.path for op in operations}  # fmt: skip
    assert_no_server_error(
        oidc_server.base_url, operations, max_examples=30, timeout_s=30, headers=admin_bearer
    )
