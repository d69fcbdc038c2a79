"""Every surface renders the one error hierarchy in its own standard format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from tokend.core.errors import (
    ENVELOPE,
    OAUTH,
    PROBLEM,
    SERVER_ERROR_TEXT,
    InvalidClient,
    InvalidGrant,
    InvalidToken,
    NotFound,
)
from tokend.core.surfaces import SurfaceResolver, install_error_handlers, surface_router
from tokend.obs.logging import AccessLog
from tokend.obs.metrics import HttpMetrics, new_registry
from tokend.obs.middleware import RequestContextMiddleware


class Body(BaseModel):
    count: int


def error_app() -> FastAPI:
    app = FastAPI()
    oauth = surface_router(OAUTH)
    admin = surface_router(PROBLEM, prefix="/admin")
    guard = surface_router(ENVELOPE, prefix="/guard")

    @oauth.post("/token")
    async def token() -> None:
        raise InvalidGrant("the code was already used", internal="code row 42 consumed at t0")

    @oauth.post("/introspect")
    async def introspect() -> None:
        raise InvalidClient("client authentication failed")

    @oauth.get("/userinfo")
    async def userinfo() -> None:
        raise InvalidToken("the access token expired")

    @oauth.post("/validated")
    async def oauth_validated(body: Body) -> Body:
        return body

    @admin.get("/clients/{client_id}")
    async def client(client_id: str) -> None:
        raise NotFound(f"no client {client_id}")

    @admin.post("/validated")
    async def admin_validated(body: Body) -> Body:
        return body

    @guard.get("/me")
    async def me() -> None:
        raise InvalidToken("the access token expired")

    @guard.get("/crash")
    async def crash() -> None:
        raise RuntimeError("database password is hunter2")

    for router in (oauth, admin, guard):
        app.include_router(router)
    resolver = SurfaceResolver(default=PROBLEM, prefixes=(("/guard", ENVELOPE),))
    install_error_handlers(app, resolver, "1.2.3")
    app.add_middleware(
        RequestContextMiddleware,
        metrics=HttpMetrics.register(new_registry()),
        resolver=resolver,
        version="1.2.3",
        access_log=AccessLog("json"),
    )
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=error_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_oauth_errors_follow_rfc_6749(client: httpx.AsyncClient) -> None:
    response = await client.post("/token")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "the code was already used",
    }
    assert response.headers["cache-control"] == "no-store"
    assert "row 42" not in response.text  # internal detail stays in the logs


async def test_invalid_client_is_401_with_basic_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post("/introspect")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="tokend"'  # RFC 6749 §5.2


async def test_invalid_token_carries_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="tokend", error="invalid_token", error_description="the access token expired"'
    )


async def test_oauth_validation_errors_are_400_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/validated", json={"count": "many"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "many" not in response.text  # submitted values are never echoed


async def test_admin_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/clients/abc", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://tokend.dev/problems/not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no client abc",
        "instance": "/admin/clients/abc",
        "code": "not_found",
        "request_id": "req-1",
    }


async def test_admin_validation_errors_list_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/validated", json={"count": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"] == [
        {"loc": ["body", "count"], "msg": body["errors"][0]["msg"], "type": "int_parsing"}
    ]
    assert "many" not in response.text


async def test_guard_errors_use_the_seed_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/guard/me", headers={"X-Correlation-ID": "corr-9"})
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["error"] == {
        "code": "INVALID_TOKEN",
        "message": "the access token expired",
        "details": {},
    }
    assert body["metadata"]["request_id"] == "corr-9"
    assert body["metadata"]["version"] == "1.2.3"
    assert body["metadata"]["timestamp"].endswith("Z")


async def test_unexpected_exception_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/guard/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "SERVER_ERROR"
    assert body["message"] == SERVER_ERROR_TEXT
    assert body["metadata"]["request_id"] == response.headers["x-request-id"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


async def test_unmatched_paths_and_methods_get_the_owning_surface(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/guard/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    wrong_method = await client.delete("/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "invalid_request"
    elsewhere = await client.get("/nowhere")
    assert elsewhere.headers["content-type"] == "application/problem+json"


async def test_request_ids_are_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/admin/clients/x", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/admin/clients/x", headers={"X-Request-ID": "bad id\twith tab"})
    assert len(generated.headers["x-request-id"]) == 32
