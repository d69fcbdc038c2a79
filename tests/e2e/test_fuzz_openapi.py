"""schemathesis drives every operation of the OpenAPI document against a real server:
whatever it sends, the answer is never a 5xx and errors come in a standard body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.fuzzing import assert_no_server_error, demo_server, operations_of
from tests.e2e.server import Server
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("fuzz"), secrets_seen) as server:
        yield server


def test_no_input_makes_the_server_fail(live_server: Server) -> None:
    operations = operations_of(live_server.base_url)
    assert len(operations) >= 5  # the document really lists the routes
    assert_no_server_error(live_server.base_url, operations, max_examples=25, timeout_s=10)
