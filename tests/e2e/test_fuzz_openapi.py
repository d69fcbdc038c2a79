"""schemathesis drives every operation of the OpenAPI document against a real server:
whatever it sends, the answer is never a 5xx and errors come in a standard body."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.e2e.fuzzing import (
    assert_nested_json_refused,
    assert_no_server_error,
    assert_oversized_bodies_refused,
    assert_slow_heads_cut_off,
    body_operations,
    demo_server,
    operations_of,
)
from tests.e2e.server import Server
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

#: Known to the server, so the admin routes read (and refuse) what the fuzzing sends them.
ADMIN_TOKEN = "fuzz-admin-" + secrets.token_hex(16)
HEADER_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    secrets_seen.add(ADMIN_TOKEN)
    with demo_server(
        tmp_path_factory.mktemp("fuzz"),
        secrets_seen,
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_SERVER__HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        # Dynamic client registration (RFC 7591) on, so /register is in the document too.
        TOKEND_OIDC__REGISTRATION__ENABLED="true",
        TOKEND_OIDC__REGISTRATION__MODE="open",
        TOKEND_OIDC__RATE_LIMITS__REGISTRATION_PER_IP="100000/hour",
    ) as server:
        yield server


def test_no_input_makes_the_server_fail(live_server: Server) -> None:
    operations = operations_of(live_server.base_url)
    assert len(operations) >= 5  # the document really lists the routes
    assert_no_server_error(live_server.base_url, operations, max_examples=25, timeout_s=10)


@pytest.mark.parametrize("admitted", [True, False], ids=["admin", "anonymous"])
def test_nested_json_never_makes_the_server_fail(live_server: Server, admitted: bool) -> None:
    operations = body_operations(live_server.base_url)
    assert len(operations) >= 10  # forms and JSON bodies of every capability
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if admitted else {}
    for operation in operations:
        assert_nested_json_refused(live_server.base_url, operation, headers, examples=6)


def test_oversized_bodies_are_refused_before_they_are_read(live_server: Server) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for operation in body_operations(live_server.base_url):
        assert_oversized_bodies_refused(live_server.base_url, operation, headers, examples=2)


def test_slow_clients_are_cut_off(live_server: Server) -> None:
    base_url = live_server.base_url
    assert_slow_heads_cut_off(base_url, give_up_after_s=HEADER_TIMEOUT_S + 9, examples=3)
