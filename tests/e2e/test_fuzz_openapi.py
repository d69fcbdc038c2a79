"""schemathesis drives every operation of the OpenAPI document against a real server:
whatever it sends, the answer is never a 5xx and errors come in a standard body."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis

from tests.e2e.fuzzing import assert_no_server_error, demo_server
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
    # The schema comes from the running server, so it is loaded inside the test (schemathesis'
    # pytest fixture loader does not work with this pytest).
    schema = schemathesis.openapi.from_url(f"{live_server.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5  # the document really lists the routes
    assert_no_server_error(live_server.base_url, operations, max_examples=25, timeout_s=10)
