"""Seed 002 as its clients see it from ``tokend serve --only guard`` (issue 24): the envelope's
API version, ``GET /``, the seed's response helpers, and a key rotated right after a fetch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.api.guard.conftest import guard_block
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tokend.app import create_app
from tokend.config import Settings
from tokend.guard import APIResponse, error_body, wrap_response


async def _alone(
    settings: Settings, issuer: FakeIssuer, **guard: Any
) -> AsyncIterator[httpx.AsyncClient]:
    updated = settings.model_copy(
        update={"guard": guard_block(issuer, **guard), "modules": ["guard"]}
    )
    app = create_app(updated)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.fixture
async def only_guard(settings: Settings, issuer: FakeIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _alone(settings, issuer):
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_envelopes_carry_the_api_version_1_0(
    only_guard: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    ok = await only_guard.get("/auth/me", headers=bearer(token))
    refused = await only_guard.get("/auth/me")
    assert ok.json()["metadata"]["version"] == "1.0"
    assert refused.status_code == 401
    assert refused.json()["metadata"]["version"] == "1.0"


async def test_the_envelope_version_is_a_setting(
    settings: Settings, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    async for client in _alone(settings, issuer, envelope_version="2.1"):
        token = secrets_seen.add(issuer.token())
        ok = await client.get("/auth/me", headers=bearer(token))
        refused = await client.get("/auth/me")
        assert ok.json()["metadata"]["version"] == "2.1"
        assert refused.json()["metadata"]["version"] == "2.1"


async def test_the_root_describes_the_service(only_guard: httpx.AsyncClient) -> None:
    response = await only_guard.get("/")
    assert response.status_code == 200
    assert response.json() == {"message": "Auth Service Running"}


async def test_a_key_rotated_right_after_the_jwks_fetch_is_accepted(
    only_guard: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    first = await only_guard.get("/auth/me", headers=bearer(secrets_seen.add(issuer.token())))
    assert first.status_code == 200
    fetches = issuer.jwks_fetches
    rotated = secrets_seen.add(issuer.token(issuer.rotate("k-new")))
    response = await only_guard.get("/auth/me", headers=bearer(rotated))
    assert response.status_code == 200, response.text
    assert issuer.jwks_fetches == fetches + 1


def _helpers_app() -> FastAPI:
    app = FastAPI()

    @app.get("/unauthorized")
    async def unauthorized() -> object:
        return APIResponse.unauthorized()

    @app.get("/forbidden")
    async def forbidden() -> object:
        return APIResponse.forbidden()

    @app.get("/missing")
    async def missing() -> object:
        return APIResponse.not_found()

    @app.get("/broken")
    async def broken() -> object:
        return APIResponse.server_error()

    @app.get("/teapot")
    async def teapot() -> object:
        return APIResponse.error("I am a teapot", 418, details={"why": "tea"})

    @app.get("/wrapped")
    async def wrapped() -> object:
        return wrap_response({"n": 1}, "Not quite", success=False)

    return app


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("/unauthorized", 401, "UNAUTHORIZED", "Authentication required"),
        ("/forbidden", 403, "FORBIDDEN", "Access forbidden"),
        ("/missing", 404, "NOT_FOUND", "Resource not found"),
        ("/broken", 500, "INTERNAL_ERROR", "Internal server error"),
        ("/teapot", 418, "ERR_418", "I am a teapot"),
    ],
)
async def test_the_seed_error_helpers_answer_its_envelope(
    path: str, status: int, code: str, message: str
) -> None:
    transport = httpx.ASGITransport(app=_helpers_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path)
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert (body["error"]["code"], body["error"]["message"]) == (code, message)
    assert body["metadata"]["version"] == "1.0"
    assert body["metadata"]["timestamp"].endswith("Z")
    if path == "/teapot":
        assert body["error"]["details"] == {"why": "tea"}


async def test_wrap_response_can_say_success_false() -> None:
    transport = httpx.ASGITransport(app=_helpers_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        body = (await client.get("/wrapped")).json()
    assert (body["success"], body["message"], body["data"]) == (False, "Not quite", {"n": 1})
    assert body["metadata"]["version"] == "1.0"
    assert error_body("x", status_code=409)["error"] == {
        "message": "x",
        "code": "ERR_409",
        "details": None,
    }
