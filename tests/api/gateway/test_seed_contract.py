"""Seed 004 as its clients see it from ``tokend serve --only gateway`` (issue 24): ``/health``
with dependency states (degraded while Kong is down, unhealthy when nothing can answer), CORS
preflights on ``/tokens``, the ``Accept-Version: v2`` headers, and the caller's trace context
carried to the Kong Admin API with tracing off."""

from __future__ import annotations

import httpx
import pytest

from tests.api.gateway.conftest import Gateway, OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import FakeKong, KongCredential

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def _token(gw: Gateway, credential: KongCredential, **headers: str) -> httpx.Response:
    return await gw.client.get(
        "/tokens", headers={**consumer_headers(credential.consumer_id), **headers}
    )


async def test_health_is_healthy_with_kong_up(open_gateway: OpenGateway, kong: FakeKong) -> None:
    assert kong.failing_status is None  # the fixture reset the shared fake
    async with open_gateway() as gw:
        response = await gw.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["dependencies"]["kong"]["status"] == "healthy"
    assert body["dependencies"]["cache"]["status"] == "healthy"
    assert body["gateway"]["circuitBreakerState"] == "closed"
    assert body["timestamp"].endswith("Z")


async def test_health_is_degraded_while_kong_is_down(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    kong.failing_status = 500
    async with open_gateway() as gw:
        down = await gw.client.get("/health")  # breaker closed: Kong's /status is asked
        credential = kong.add_consumer()
        for _ in range(3):
            await _token(gw, credential)
        open_ = await gw.client.get("/health")  # breaker open: Kong is not even asked
    assert down.status_code == 200
    assert down.json()["status"] == "degraded"
    assert down.json()["dependencies"]["kong"]["status"] == "unhealthy"
    assert open_.status_code == 200
    body = open_.json()
    assert (body["status"], body["gateway"]["circuitBreakerState"]) == ("degraded", "open")
    assert body["dependencies"]["kong"] == {
        "status": "unhealthy",
        "responseTime": 0,
        "details": "Circuit breaker open - Kong Admin API unavailable",
    }


async def test_health_is_unhealthy_when_no_stale_cache_can_answer(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    kong.failing_status = 503
    async with open_gateway(stale_tolerance_s=0) as gw:
        response = await gw.client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


async def test_cors_preflight_on_tokens_is_answered(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    async with open_gateway() as gw:
        tokens = await gw.client.options("/tokens", headers=preflight)
        validate = await gw.client.options("/tokens/validate", headers=preflight)
    for response in (tokens, validate):
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "GET" in response.headers["access-control-allow-methods"]
        assert "x-consumer-id" in response.headers["access-control-allow-headers"]


async def test_cors_origins_are_configurable(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    secrets_seen.add(credential.secret)
    async with open_gateway(cors_origins=["https://app.example"]) as gw:
        allowed = await gw.client.options("/tokens", headers={"Origin": "https://app.example"})
        other = await gw.client.options("/tokens", headers={"Origin": "https://evil.example"})
        answer = await _token(gw, credential, Origin="https://app.example")
        secrets_seen.add(answer.json()["access_token"])
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "https://app.example"


async def test_the_all_in_one_app_has_no_cors_unless_configured(
    open_gateway: OpenGateway,
) -> None:
    async with open_gateway(modules=["gateway", "vault"]) as gw:
        response = await gw.client.options(
            "/gateway/tokens", headers={"Origin": "https://app.example"}
        )
    assert response.status_code == 405


@pytest.mark.parametrize(("version", "v2"), [("v2", True), ("v1", False), (None, False)])
async def test_accept_version_v2_adds_the_seeds_headers(
    open_gateway: OpenGateway,
    kong: FakeKong,
    secrets_seen: SecretsSeen,
    version: str | None,
    v2: bool,
) -> None:
    credential = kong.add_consumer()
    secrets_seen.add(credential.secret)
    asked = {"Accept-Version": version} if version else {}
    async with open_gateway() as gw:
        response = await _token(gw, credential, **asked)
    assert response.status_code == 200
    secrets_seen.add(response.json()["access_token"])
    assert response.headers["vary"] == "Accept-Version"
    if v2:
        assert response.headers["api-version"] == "v2"
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    else:
        assert "api-version" not in response.headers
        assert "strict-transport-security" not in response.headers


async def test_the_callers_traceparent_reaches_kong_without_tracing(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    secrets_seen.add(credential.secret)
    async with open_gateway() as gw:
        response = await _token(gw, credential, traceparent=TRACEPARENT)
        secrets_seen.add(response.json()["access_token"])
        untraced = kong.add_consumer()
        secrets_seen.add(untraced.secret)
        plain = await _token(gw, untraced)
        secrets_seen.add(plain.json()["access_token"])
    assert response.status_code == 200
    assert kong.traceparents == [TRACEPARENT, None]
