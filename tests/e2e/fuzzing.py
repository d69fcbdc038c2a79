"""schemathesis over a live `tokend serve`: the demo server both fuzz tests drive, and the
check each generated request's answer must pass (never a 5xx, errors in a standard body)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.raw_http import chunked, send, trickle
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


# What schemathesis does not send: JSON nested deeper than any parser should follow, bodies
# larger than any route takes, and clients that send their request a byte at a time.


def nested_json() -> st.SearchStrategy[str]:
    """Arrays or objects nested up to 100 000 levels, closed or not."""

    def build(depth: int, as_objects: bool, is_closed: bool) -> str:
        opener, leaf, closer = ('{"a":', "0", "}") if as_objects else ("[", "", "]")
        return opener * depth + leaf + (closer * depth if is_closed else "")

    return st.builds(build, st.integers(1, 100_000), st.booleans(), st.booleans())


def oversized_bodies() -> st.SearchStrategy[tuple[int, bool]]:
    """A body size past every route's limit up to 8 MiB, and whether it is sent chunked."""
    return st.tuples(st.integers(1024 * 1024 + 1, 8 * 1024 * 1024), st.booleans())


def slow_heads() -> st.SearchStrategy[tuple[float, int]]:
    """How slowly a client trickles its request head (s per byte), and how many header bytes."""
    return st.tuples(st.floats(0.05, 0.3), st.integers(50, 2000))


@dataclass(frozen=True)
class BodyOperation:
    method: str
    path: str
    media_type: str
    fields: tuple[str, ...]


def body_operations(base_url: str) -> list[BodyOperation]:
    """Every operation of the OpenAPI document that takes a JSON or form body, with its path
    parameters filled in (digits fit every pattern the document has)."""
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    found = []
    for template, item in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media_type in ("application/json", "application/x-www-form-urlencoded"):
                if media_type in content:
                    schema = content[media_type].get("schema", {})
                    fields = tuple(schema.get("properties", {})) or ("value",)
                    found.append(BodyOperation(method.upper(), path, media_type, fields))
    return found


def body_of(operation: BodyOperation, value: str) -> bytes:
    """``value`` as the operation's whole JSON body, or as each of its form fields."""
    if operation.media_type == "application/json":
        return value.encode()
    return urlencode(dict.fromkeys(operation.fields, value)).encode()


def assert_refused_cleanly(status: int | None, content_type: str, text: str, label: str) -> None:
    """An answer came, it is not a 5xx, and an error has a standard body."""
    assert status is not None, f"{label}: no answer"
    assert status < 500, (label, status, text[:300])
    if status >= 400:
        assert content_type.startswith(ERROR_TYPES), (label, content_type)
        assert "Traceback" not in text, label


def assert_nested_json_refused(
    base_url: str, operation: BodyOperation, headers: dict[str, str], examples: int
) -> None:
    """However deep the JSON (as the body, or in each form field), the answer is a clean 4xx."""
    label = f"{operation.method} {operation.path}"

    @given(value=nested_json())
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    def refused(value: str) -> None:
        response = httpx.request(
            operation.method,
            f"{base_url}{operation.path}",
            content=body_of(operation, value),
            headers={"Content-Type": operation.media_type, **headers},
            timeout=30,
        )
        content_type = response.headers.get("content-type", "")
        assert_refused_cleanly(response.status_code, content_type, response.text, label)

    refused()


def assert_oversized_bodies_refused(
    base_url: str, operation: BodyOperation, headers: dict[str, str], examples: int
) -> None:
    """A body past every limit, declared or chunked, is turned away: never read whole."""

    @given(body=oversized_bodies())
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    def refused(body: tuple[int, bool]) -> None:
        size, is_chunked = body
        pieces = (b"0" * min(65536, size - start) for start in range(0, size, 65536))
        framing = {"Transfer-Encoding": "chunked"} if is_chunked else {"Content-Length": f"{size}"}
        response = send(
            base_url,
            operation.method,
            operation.path,
            {"Content-Type": operation.media_type, **headers, **framing},
            chunked(pieces) if is_chunked else pieces,
        )
        label = f"{operation.method} {operation.path} ({size} bytes)"
        content_type = response.headers.get("content-type", "")
        assert_refused_cleanly(response.status, content_type, response.body.decode(), label)
        # Refused: at the limit (413), or before the body for another reason (401, 400, ...).
        assert response.status is not None
        assert response.status >= 400, (label, response.status)

    refused()


def assert_slow_heads_cut_off(base_url: str, give_up_after_s: float, examples: int) -> None:
    @given(slow=slow_heads())
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    def cut_off(slow: tuple[float, int]) -> None:
        pause_s, header_bytes = slow
        head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * header_bytes + b"\r\n\r\n"
        response, sent = trickle(base_url, head, pause_s=pause_s, give_up_after_s=give_up_after_s)
        assert sent < len(head), "the server waited for the whole head"
        assert response.closed or response.status == 408, response

    cut_off()
