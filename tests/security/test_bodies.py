"""Request bodies and slow clients against a real ``tokend serve``: bounded memory, 413 past a
route's limit (declared or streamed), 408/close for a client that takes too long, a 4xx (never a
500) for deeply nested JSON, ``invalid_request`` for a repeated form parameter."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.fuzzing import demo_server
from tests.e2e.raw_http import chunked, send, trickle
from tests.e2e.server import Server
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "bodies-admin-" + secrets.token_hex(16)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HEADER_TIMEOUT_S = 1
BODY_TIMEOUT_S = 2
#: The demo gateway consumer's key (tokend.gateway.demo), printed in the demo banner.
DEMO_API_KEY = "tkd_demo_gateway_key_0123456789abcdef"
MIB = 1024 * 1024
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    secrets_seen: SecretsSeen,
) -> Iterator[Server]:
    secrets_seen.add(ADMIN_TOKEN)
    with demo_server(
        tmp_path_factory.mktemp("bodies"),
        secrets_seen,
        TOKEND_SERVER__SERVER=request.param,
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_SERVER__HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        TOKEND_SERVER__BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
    ) as running:
        yield running


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM): a body held even briefly shows up in it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def zeros(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, total, piece):
        yield b"0" * min(piece, total - start)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_an_anonymous_50_mb_post_to_admin_clients_is_refused_without_being_held(
    server: Server,
) -> None:
    for _ in range(3):  # warm the paths the request takes
        httpx.post(f"{server.base_url}/admin/clients", json={}, timeout=10)
    before = peak_rss_kib(server.process.pid)
    total = 50 * MIB
    headers = {"Content-Type": "application/json", "Content-Length": str(total)}
    response = send(server.base_url, "POST", "/admin/clients", headers, zeros(total))
    after = peak_rss_kib(server.process.pid)
    assert response.status in (401, 413), response
    assert after - before < 16 * 1024, f"peak RSS grew by {after - before} KiB"


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_sent(server: Server) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(MIB)}
    response = send(server.base_url, "POST", "/token", headers)  # no body at all
    assert response.status == 413
    assert response.json()["error"] == "invalid_request"
    assert response.headers["connection"] == "close"


def test_a_chunked_body_over_the_limit_is_413_in_the_surface_shape(server: Server) -> None:
    form = {"Content-Type": FORM, "Transfer-Encoding": "chunked"}
    token = send(server.base_url, "POST", "/token", form, chunked(zeros(MIB, 4096)))
    assert token.status == 413
    assert token.json()["error"] == "invalid_request"
    admin_json = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", **ADMIN}
    big = chunked(zeros(4 * MIB, 64 * 1024))
    admin = send(server.base_url, "POST", "/admin/clients", admin_json, big)
    assert admin.status == 413
    assert admin.headers["content-type"] == "application/problem+json"
    assert admin.json()["code"] == "content_too_large"
    path = "/broker/api/demo/token?mcc=972&sn=05"
    broker = send(server.base_url, "POST", path, form, chunked(zeros(MIB, 4096)))
    assert broker.status == 413
    assert set(broker.json()) == {"detail"}


def test_a_client_sending_its_headers_slowly_is_disconnected(server: Server) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    response, sent = trickle(server.base_url, head, pause_s=0.1, give_up_after_s=20)
    assert sent < len(head), "the server waited for the whole head"
    assert response.closed or response.status == 408, response


def test_a_head_past_the_header_limit_is_431_and_closed(server: Server) -> None:
    # 16 KiB by default (TOKEND_SERVER__MAX_HEADER_BYTES); httptools alone takes any size.
    headers = {f"X-Filler-{n}": "f" * 1000 for n in range(64)}
    response = send(server.base_url, "GET", "/health", headers)
    assert response.status == 431, response
    assert response.headers["connection"] == "close"


def test_a_body_that_does_not_arrive_in_time_is_given_up(server: Server) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "100"}
    pieces = iter([b"grant_type="])
    response = send(server.base_url, "POST", "/token", headers, pieces, timeout_s=20)
    assert response.status == 408 or response.closed, response
    if response.status is not None:
        assert response.headers["connection"] == "close"


JSON_ROUTES = [
    ("POST", "/admin/clients"),
    ("POST", "/admin/users"),
    ("PUT", "/broker/admin/directory/97299"),
    ("POST", "/broker/telco-finder/v1/search"),
    ("POST", "/gateway/admin/consumers"),
    ("POST", "/vault/clients"),
    ("POST", "/vault/branches"),
    ("POST", "/vault/tokens/refresh"),
]


@pytest.mark.parametrize("depth", [100_000, 2_000, 70])
def test_deeply_nested_json_is_refused_by_the_json_loader_on_every_json_route(
    server: Server, depth: int
) -> None:
    # Refused as JSON (core.json_input: json_invalid, in the surface's shape), or as too large
    # for a route with a small limit; never parsed into a value that deep.
    body = '{"a":' + nested(depth) + "}"
    for method, path in JSON_ROUTES:
        response = httpx.request(
            method,
            f"{server.base_url}{path}",
            content=body,
            headers={"Content-Type": "application/json", **ADMIN},
            timeout=20,
        )
        assert response.status_code in (400, 413, 422), (path, response.text)
        if response.status_code != 413:  # CAMARA's shape is a 400 with the message
            assert '"json_invalid"' in response.text or "nests deeper" in response.text, path
        assert response.headers["content-type"].startswith(
            ("application/json", "application/problem+json")
        ), path


def test_deeply_nested_json_in_a_form_field_or_a_token_is_a_4xx(server: Server) -> None:
    telco_auth = quote(nested(2_000))
    form = f"auth_code=best_auth_code_123&telco_auth={telco_auth}"
    telco = httpx.post(
        f"{server.base_url}/telcos/orange/api/demo/token",
        params={"mcc": "972", "sn": "0527464600"},
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=20,
    )
    assert telco.status_code == 400, telco.text
    assert telco.json() == {"detail": "Invalid telco_auth JSON format"}
    segment = base64.urlsafe_b64encode(nested(2_000).encode()).rstrip(b"=").decode()
    validate = httpx.get(
        f"{server.base_url}/gateway/tokens/validate",
        headers={"Authorization": f"Bearer {segment}.{segment}.c2ln", "apikey": DEMO_API_KEY},
        timeout=20,
    )
    assert validate.status_code == 400, validate.text
    assert validate.json()["code"] == "AUTH_011"


def test_a_repeated_form_parameter_is_invalid_request(server: Server) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    oauth_cases = [
        ("/token", "grant_type=client_credentials&grant_type=client_credentials"),
        ("/introspect", "token=a&token=b"),
        ("/revoke", "token=a&token=b"),
        ("/vault/token", "grant_type=a&grant_type=b&subject_token=t&subject_token_type=x"),
    ]
    for path, body in oauth_cases:
        response = httpx.post(f"{server.base_url}{path}", content=body, headers=form, timeout=10)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"] == "invalid_request", path
        assert "more than once" in response.json()["error_description"], path
    seed_cases = [
        "/broker/api/demo/token?mcc=972&sn=05",
        "/telcos/orange/api/demo/token?mcc=972&sn=0527464600",
    ]
    for path in seed_cases:
        body = "auth_code=best_auth_code_123&auth_code=best_auth_demo"
        response = httpx.post(f"{server.base_url}{path}", content=body, headers=form, timeout=10)
        assert response.status_code == 400, (path, response.text)
        assert "more than once" in response.json()["detail"], path
