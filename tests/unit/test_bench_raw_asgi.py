"""The bench's ceiling for client_credentials (bench.raw_asgi ``POST /token``) does the grant's
protocol work for real: a wrong secret, grant, scope or body is refused as RFC 6749 says, and the
scenario's own request gets an ES256 JWT access token that verifies with the app's key. Its rate
is only a reference if it does the same work as tokend's token endpoint."""

from __future__ import annotations

import base64

import httpx
import jwt
import pytest
from bench.raw_asgi import RAW_AUDIENCE, RAW_CLIENT_ID, RAW_SCOPE, app, token_endpoint
from bench.scenarios import RAW_CLIENT_CREDENTIALS

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GRANT = "grant_type=client_credentials&scope=api%3Aread"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def post(body: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        return await client.post("/token", content=body, headers=headers)


async def test_the_scenarios_request_gets_an_es256_jwt_that_verifies() -> None:
    scenario = RAW_CLIENT_CREDENTIALS
    assert scenario.body is not None
    answer = await post(scenario.body, dict(scenario.headers))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == RAW_SCOPE
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"
    claims = jwt.decode(
        body["access_token"],
        token_endpoint().key.public_key(),
        algorithms=["ES256"],
        audience=RAW_AUDIENCE,
    )
    assert claims["client_id"] == claims["sub"] == RAW_CLIENT_ID
    assert claims["exp"] - claims["iat"] == body["expires_in"] == 900
    again = (await post(scenario.body, dict(scenario.headers))).json()
    assert (
        jwt.decode(again["access_token"], options={"verify_signature": False})["jti"]
        != (claims["jti"])
    )


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        (basic(RAW_CLIENT_ID, "not-the-secret"), 401, "invalid_client"),
        (basic("someone-else", "bench-raw-secret-0123456789"), 401, "invalid_client"),
        ({"Authorization": "Bearer x"}, 401, "invalid_client"),
        ({"Authorization": "Basic %%%"}, 401, "invalid_client"),
        ({}, 401, "invalid_client"),
    ],
)
async def test_a_client_that_does_not_authenticate_is_refused(
    headers: dict[str, str], status: int, error: str
) -> None:
    answer = await post(GRANT, {**FORM, **headers})
    assert answer.status_code == status
    assert answer.json() == {"error": error}
    assert answer.headers["www-authenticate"] == "Basic"


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (
            "grant_type=password&username=a&password=b",
            FORM["Content-Type"],
            "unsupported_grant_type",
        ),
        ("grant_type=client_credentials&scope=admin", FORM["Content-Type"], "invalid_scope"),
        ('{"grant_type": "client_credentials"}', "application/json", "invalid_request"),
    ],
)
async def test_a_request_the_grant_does_not_allow_is_refused(
    body: str, content_type: str, error: str
) -> None:
    headers = {**dict(RAW_CLIENT_CREDENTIALS.headers), "Content-Type": content_type}
    answer = await post(body, headers)
    assert answer.status_code == 400
    assert answer.json() == {"error": error}
