"""Seed 004's problem body for every AUTH code, and for errors from outside the gateway."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from tokend.core.errors import (
    PROBLEM,
    SERVER_ERROR_TEXT,
    ErrorContext,
    ServiceUnavailable,
    TokendError,
)
from tokend.core.surfaces import SurfaceResolver, install_error_handlers, surface_router
from tokend.gateway import errors
from tokend.obs.metrics import HttpMetrics, new_registry
from tokend.obs.middleware import RequestContextMiddleware

CTX = ErrorContext(request_id="req-1", path="/tokens", version="test")

SEED_TABLE = [
    (errors.MissingConsumerHeaders, 401, "Missing Consumer Headers"),
    (errors.ConsumerNotFound, 401, "Consumer Not Found"),
    (errors.JwtCreationFailed, 500, "JWT Creation Failed"),
    (errors.KongUnavailable, 503, "Kong API Unavailable"),
    (errors.CircuitOpen, 503, "Circuit Breaker Open"),
    (errors.RateLimitExceeded, 429, "Rate Limit Exceeded"),
    (errors.InvalidRequestFormat, 400, "Invalid Request Format"),
    (errors.InternalError, 500, "Internal Server Error"),
    (errors.AnonymousConsumer, 401, "Anonymous Consumer"),
    (errors.TokenExpired, 401, "Token Expired"),
    (errors.InvalidToken, 400, "Invalid Token"),
    (errors.MissingAuthorization, 400, "Missing Authorization"),
]


@pytest.mark.parametrize(("cls", "status", "title"), SEED_TABLE, ids=lambda v: str(v))
def test_each_code_renders_the_seed_body(cls: type[TokendError], status: int, title: str) -> None:
    response = errors.render_auth(cls(), CTX)
    body = json.loads(bytes(response.body))
    number = cls.code.removeprefix("AUTH_")
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert list(body) == [
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "code",
        "requestId",
        "timestamp",
    ]
    assert body["type"] == f"urn:problem-type:auth-service/auth-{number}"
    assert (body["title"], body["status"], body["code"]) == (title, status, cls.code)
    assert body["detail"] == cls.default_description
    assert (body["instance"], body["requestId"]) == ("/tokens", "req-1")


@pytest.mark.parametrize(
    ("path", "action"), [("/tokens", "generation"), ("/tokens/validate", "validation")]
)
def test_an_unexpected_error_is_auth_008_without_its_text(path: str, action: str) -> None:
    ctx = ErrorContext(request_id="req-2", path=path, version="test")
    response = errors.render_auth(TokendError(SERVER_ERROR_TEXT, internal="boom"), ctx)
    body = json.loads(bytes(response.body))
    assert (response.status_code, body["code"]) == (500, "AUTH_008")
    assert body["detail"] == f"An unexpected error occurred during token {action}"
    assert "boom" not in bytes(response.body).decode()


def test_a_spine_503_keeps_its_retry_after_and_maps_to_auth_004() -> None:
    error = ServiceUnavailable("starting", headers={"Retry-After": "5"})
    response = errors.render_auth(error, CTX)
    assert json.loads(bytes(response.body))["code"] == "AUTH_004"
    assert response.headers["retry-after"] == "5"


def test_extensions_appear_only_when_there_are_some() -> None:
    error = errors.ConsumerNotFound(details={"consumerId": "c-1"})
    body = json.loads(bytes(errors.render_auth(error, CTX).body))
    assert body["extensions"] == {"consumerId": "c-1"}


async def test_a_crash_in_a_gateway_route_is_answered_auth_008_by_the_spine_pipeline() -> None:
    # The spine's real error handlers and middleware, with one gateway-surface route that
    # crashes: the last-resort handler must render the seed body, not a stack trace.
    app = FastAPI()
    resolver = SurfaceResolver(default=PROBLEM)
    install_error_handlers(app, resolver, "test")
    router = surface_router(errors.AUTH)

    @router.get("/tokens")
    async def crash() -> None:
        raise RuntimeError("secret-looking internal detail")

    app.include_router(router)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=HttpMetrics.register(new_registry()),
        resolver=resolver,
        version="test",
        access_log=None,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/tokens")
    body = response.json()
    assert (response.status_code, body["code"]) == (500, "AUTH_008")
    assert body["detail"] == "An unexpected error occurred during token generation"
    assert body["requestId"] == response.headers["x-request-id"]
    assert "secret-looking" not in response.text
