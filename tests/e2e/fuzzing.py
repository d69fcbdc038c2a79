"""schemathesis over a live `tokend serve`: the demo server both fuzz tests drive, and the
check each generated request's answer must pass (never a 5xx, errors in a standard body)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

if TYPE_CHECKING:
    # schemathesis defines these aliases for type checkers only.
    from schemathesis.specs.openapi.schemas import OpenApiCase, OpenApiOperation

ERROR_TYPES = ("application/json", "application/problem+json")


@contextmanager
def demo_server(tmp: Path, secrets_seen: SecretsSeen, **env: str) -> Iterator[Server]:
    """A demo-data server on SQLite (``env`` added); stops cleanly, and nothing crashed."""
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    full_env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ENV="demo",
        TOKEND_DEMO_DATA="true",
        TOKEND_LOG__ACCESS_LOG="false",
        **env,
    )
    server = start([*TOKEND, "serve", "--port", str(port)], full_env, port, log_path)
    yield server
    assert server.stop() == 0
    assert "request.crashed" not in server.log()


def operations_of(base_url: str) -> list[OpenApiOperation]:
    """The operations the running server's OpenAPI document lists (loaded from the server, as
    schemathesis' pytest fixture loader does not work with this pytest); a part of the document
    schemathesis cannot resolve fails the test with its error."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


def assert_no_server_error(
    base_url: str,
    operations: Iterable[OpenApiOperation],
    *,
    max_examples: int,
    timeout_s: float,
    headers: Callable[[OpenApiCase], dict[str, str]] = lambda _: {},
) -> None:
    """Each operation gets its own hypothesis run, so a failure names the operation."""
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def no_server_error(case: OpenApiCase) -> None:
            response = case.call(base_url=base_url, headers=headers(case), timeout=timeout_s)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, (label, response.text[:500])
            if response.status_code >= 400:
                # schemathesis gives each header as the list of its values
                (content_type,) = response.headers["content-type"]
                assert content_type.startswith(ERROR_TYPES), (label, content_type)
                assert "Traceback" not in response.text, label

        no_server_error()
