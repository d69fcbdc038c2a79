"""``GET /tokens`` behind Kong: seed 004's token, headers and error bodies, both Kong URL shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import jwt
import pytest

from tests.api.gateway.conftest import OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import CONTROL_PLANE, KONNECT_TOKEN, FakeKong

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SEED_CLAIMS = {"sub", "key", "jti", "iat", "nbf", "exp", "iss", "aud", "name"}


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _mode(kong_url: str, mode: str) -> dict[str, Any]:
    if mode == "KONNECT":
        return {
            "kong_mode": "KONNECT",
            "kong_admin_url": f"{kong_url}/v2/control-planes/{CONTROL_PLANE}",
            "kong_admin_token": KONNECT_TOKEN,
        }
    return {}


@pytest.mark.parametrize("mode", ["API_GATEWAY", "KONNECT"])
async def test_tokens_returns_a_jwt_that_pyjwt_verifies_with_the_consumer_secret(
    open_gateway: OpenGateway,
    kong: FakeKong,
    kong_url: str,
    mode: str,
    secrets_seen: SecretsSeen,
) -> None:
    credential = kong.add_consumer()
    secrets_seen.add(credential.secret)
    async with open_gateway(**_mode(kong_url, mode)) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 200, response.text
    body = response.json()
    token = secrets_seen.add(body["access_token"])
    assert set(body) == {"access_token", "expires_in"}
    assert body["expires_in"] == 900
    assert response.headers["content-type"] == "application/json"
    assert "no-store" in response.headers["cache-control"].split(", ")
    assert response.headers["x-request-id"]
    assert _segment(token, 0) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(
        token, credential.secret, algorithms=["HS256"], audience="example-api", leeway=5
    )
    assert set(claims) == SEED_CLAIMS
    assert claims["sub"] == claims["name"] == "example-consumer"
    assert claims["key"] == credential.key
    assert claims["iss"] == "https://api.example.com"
    assert claims["aud"] == "example-api"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] == claims["iat"] + 900
    expected_path = (
        f"/v2/control-planes/{CONTROL_PLANE}/core-entities/consumers/{credential.consumer_id}/jwt"
        if mode == "KONNECT"
        else f"/consumers/{credential.consumer_id}/jwt"
    )
    assert kong.calls == [("GET", expected_path)]


async def test_the_token_is_seed_004s_bytes(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    """Byte for byte what the seed's service writes: its fixed header segment, the claims as
    compact JSON in the seed's order, and HMAC SHA-256 keyed with the secret's UTF-8 bytes."""
    credential = kong.add_consumer()
    secrets_seen.add(credential.secret)
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    token = secrets_seen.add(response.json()["access_token"])
    head, body, signature = token.split(".")
    claims = _segment(token, 1)
    assert list(claims) == ["sub", "key", "jti", "iat", "nbf", "exp", "iss", "aud", "name"]
    compact = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    mac = hmac.new(credential.secret.encode(), f"{head}.{body}".encode(), hashlib.sha256)
    assert head == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    assert body == base64.urlsafe_b64encode(compact).rstrip(b"=").decode()
    assert signature == base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


@pytest.mark.parametrize("key_claim_name", ["iss", "key"])
async def test_the_token_passes_the_kong_jwt_plugin_checks(
    open_gateway: OpenGateway, kong: FakeKong, key_claim_name: str
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(issuer_is_credential_key=key_claim_name == "iss") as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    token = response.json()["access_token"]
    # What Kong's jwt plugin does: HS256 only, find the credential by key_claim_name, verify the
    # signature with its secret, then the registered claims it is told to check (exp).
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    unverified = jwt.decode(token, options={"verify_signature": False})
    found = kong.by_key(unverified[key_claim_name])
    assert found is not None
    assert found.consumer_id == credential.consumer_id
    claims = jwt.decode(
        token,
        found.secret,
        algorithms=["HS256"],
        options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
    )
    assert claims["exp"] > claims["iat"]


async def test_audiences_and_lifetime_are_configurable(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(audience="orders,billing", token_ttl_s=120) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.json()["expires_in"] == 120
    claims = jwt.decode(
        response.json()["access_token"], credential.secret, algorithms=["HS256"], audience="orders"
    )
    assert claims["aud"] == ["orders", "billing"]
    assert claims["exp"] - claims["iat"] == 120


async def test_missing_consumer_headers_is_a_401_auth_001_problem(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers={"X-Consumer-ID": "abc"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["requestId"] == response.headers["x-request-id"]
    assert ISO_MILLIS.match(body.pop("timestamp"))
    body.pop("requestId")
    assert body == {
        "type": "urn:problem-type:auth-service/auth-001",
        "title": "Missing Consumer Headers",
        "status": 401,
        "detail": "Required Kong consumer headers are missing from the request",
        "instance": "/tokens",
        "code": "AUTH_001",
        "extensions": {"reason": "Missing Kong consumer headers"},
    }
    assert kong.calls == []


@pytest.mark.parametrize("header", ["X-Consumer-ID", "X-Consumer-Username"])
async def test_a_consumer_header_over_256_characters_is_a_400_auth_007(
    open_gateway: OpenGateway, kong: FakeKong, header: str
) -> None:
    headers = consumer_headers("c-1") | {header: "x" * 257}
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_007", "Invalid Request Format")
    assert body["detail"] == "Header value exceeds maximum allowed length"


async def test_a_consumer_header_of_exactly_256_characters_is_accepted(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id, username="u" * 256)
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=headers)
    assert response.status_code == 200, response.text


async def test_an_anonymous_consumer_is_a_401_auth_009(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id) | {"X-Anonymous-Consumer": "true"}
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_009"
    assert response.json()["detail"] == "Anonymous consumers are not allowed to request tokens"


@pytest.mark.parametrize("has_consumer", [False, True], ids=["kong-404", "no-credential"])
async def test_an_unknown_consumer_or_one_without_credential_is_a_401_auth_002(
    open_gateway: OpenGateway, kong: FakeKong, has_consumer: bool
) -> None:
    if has_consumer:
        kong.consumers["no-jwt"] = []
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers("no-jwt"))
        state = (await gw.client.get("/health")).json()["gateway"]["circuitBreakerState"]
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "AUTH_002"
    assert body["extensions"] == {"consumerId": "no-jwt"}
    assert state == "closed"  # Kong answered: not a breaker failure


async def test_a_consumer_without_credential_gets_one_created_when_configured(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    kong.consumers["new-consumer"] = []
    async with open_gateway(create_missing_credentials=True) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers("new-consumer"))
    assert response.status_code == 200, response.text
    (created,) = kong.consumers["new-consumer"]
    secrets_seen.add(created.secret)
    assert re.fullmatch(r"[0-9a-f]{32}", created.key)
    assert re.fullmatch(r"[0-9a-f]{64}", created.secret)
    claims = jwt.decode(
        response.json()["access_token"],
        created.secret,
        algorithms=["HS256"],
        audience="example-api",
    )
    assert claims["key"] == created.key


async def test_kong_failing_with_the_breaker_closed_is_a_503_auth_004(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    kong.failing_status = 502
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_004", "Kong API Unavailable")
    assert body["extensions"] == {"reason": "Kong gateway connectivity issues", "retryAfter": 30}
    assert len(kong.calls) == 2  # the GET is retried once


async def test_a_consumer_over_the_rate_limit_gets_429_auth_006(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(rate_limit_per_minute=2) as gw:
        statuses = [
            (await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id)))
            for _ in range(3)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["code"] == "AUTH_006"
    assert int(statuses[2].headers["retry-after"]) >= 1


async def test_wrong_method_is_the_seed_405_problem_with_allow(open_gateway: OpenGateway) -> None:
    async with open_gateway() as gw:
        response = await gw.client.post("/tokens")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    body = response.json()
    assert "code" not in body
    assert body["type"] == "https://httpwg.org/specs/rfc9110.html#status.405"
    assert body["detail"] == (
        "The requested method is not allowed for this endpoint. Allowed methods: GET"
    )
    assert body["extensions"] == {"allowedMethods": ["GET"]}


async def test_in_the_all_in_one_app_the_gateway_sits_under_its_prefix(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(modules=["broker", "gateway"]) as gw:
        response = await gw.client.get(
            "/gateway/tokens", headers=consumer_headers(credential.consumer_id)
        )
        missing = await gw.client.get("/gateway/tokens")
    assert response.status_code == 200, response.text
    assert missing.json()["instance"] == "/gateway/tokens"


async def test_a_kong_slower_than_the_timeout_is_an_outage(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    kong.delay_s = 0.5
    async with open_gateway(kong_timeout_s=0.1, kong_attempts=1) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
        timeouts = await gw.metric("tokend_kong_api_call_duration_seconds_count", outcome="timeout")
    assert response.status_code == 503
    assert response.json()["code"] == "AUTH_004"
    assert timeouts == 1


async def test_the_openapi_document_names_the_consumer_headers(open_gateway: OpenGateway) -> None:
    async with open_gateway() as gw:
        document = (await gw.client.get("/openapi.json")).json()
    parameters = document["paths"]["/tokens"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == [
        "x-consumer-id",
        "x-consumer-username",
        "x-anonymous-consumer",
    ]
    validate = document["paths"]["/tokens/validate"]["get"]["parameters"]
    assert validate[0]["name"] == "Authorization"
