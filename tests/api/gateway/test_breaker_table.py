"""Seed 004's failure table, one test per row, on a controllable clock (no sleeps).

Cache: fresh for 300 s, usable while Kong is down up to 1800 s (the stale tolerance).
"""

from __future__ import annotations

import httpx
import jwt
from jwt.types import Options

from tests.api.gateway.conftest import Gateway, OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import FakeKong, KongCredential

_SIGNATURE_ONLY: Options = {
    "verify_aud": False,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}


async def _get(gw: Gateway, credential: KongCredential) -> httpx.Response:
    return await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))


def _signed_with(response: httpx.Response, secret: str) -> bool:
    token = response.json()["access_token"]
    try:
        # Only the signature: the app's clock runs ahead of PyJWT's.
        jwt.decode(token, secret, algorithms=["HS256"], options=_SIGNATURE_ONLY)
    except jwt.InvalidSignatureError:
        return False
    return True


async def test_kong_up_cache_fresh_serves_from_the_cache(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway() as gw:
        first = await _get(gw, credential)
        gw.clock.advance(299)
        second = await _get(gw, credential)
        hits = await gw.metric("tokend_gateway_cache_requests_total", result="hit")
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(kong.calls) == 1
    assert hits == 1


async def test_kong_up_cache_stale_refreshes_from_kong(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    async with open_gateway() as gw:
        await _get(gw, credential)
        credential.secret = secrets_seen.add("rotated-secret-" + "0" * 40)
        gw.clock.advance(301)
        response = await _get(gw, credential)
    assert response.status_code == 200
    assert len(kong.calls) == 2
    assert _signed_with(response, credential.secret)


async def test_kong_down_cache_fresh_serves_from_the_cache(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway() as gw:
        await _get(gw, credential)
        kong.failing_status = 503
        gw.clock.advance(200)
        response = await _get(gw, credential)
        degraded = await gw.metric("tokend_gateway_degraded_total")
    assert response.status_code == 200
    assert len(kong.calls) == 1
    assert degraded == 0


async def test_kong_down_cache_stale_within_tolerance_is_served_degraded(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway() as gw:
        await _get(gw, credential)
        kong.failing_status = 500
        gw.clock.advance(1700)
        response = await _get(gw, credential)
        degraded = await gw.metric("tokend_gateway_degraded_total", source="gateway:kong")
    assert response.status_code == 200
    assert _signed_with(response, credential.secret)
    assert len(kong.calls) == 3  # the first fetch, then a failed GET and its retry
    assert degraded == 1


async def test_kong_down_cache_stale_beyond_tolerance_is_a_503_auth_005(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(breaker_min_calls=1) as gw:
        await _get(gw, credential)
        kong.failing_status = 500
        gw.clock.advance(1801)
        response = await _get(gw, credential)
    assert response.status_code == 503
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_005", "Circuit Breaker Open")
    assert response.headers["retry-after"] == "60"


async def test_kong_down_and_nothing_cached_is_a_503_auth_005(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    kong.failing_status = 500
    async with open_gateway() as gw:
        statuses = [await _get(gw, credential) for _ in range(4)]
        state = await gw.metric("tokend_circuit_breaker_state", upstream="gateway:kong")
    codes = [r.json()["code"] for r in statuses]
    # Three failed calls open the breaker (50 % of at least 3); then Kong is not even asked.
    assert codes == ["AUTH_004", "AUTH_004", "AUTH_005", "AUTH_005"]
    assert len(kong.calls) == 6
    assert state == 1


async def test_the_breaker_half_opens_after_the_reset_timeout_and_closes_on_success(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    kong.failing_status = 500
    async with open_gateway(breaker_min_calls=1) as gw:
        assert (await _get(gw, credential)).json()["code"] == "AUTH_005"
        kong.failing_status = None
        gw.clock.advance(59)
        still_open = await _get(gw, credential)
        calls_while_open = len(kong.calls)
        gw.clock.advance(1)
        health = (await gw.client.get("/health")).json()["gateway"]
        recovered = await _get(gw, credential)
        after = (await gw.client.get("/health")).json()["gateway"]
    assert still_open.status_code == 503
    assert calls_while_open == 2
    assert health["circuitBreakerState"] == "half-open"
    assert recovered.status_code == 200
    assert after["circuitBreakerState"] == "closed"
    assert after["lastSuccess"] is not None


async def test_health_stays_200_while_kong_is_down(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    kong.failing_status = 500
    async with open_gateway(breaker_min_calls=1) as gw:
        await _get(gw, credential)
        response = await gw.client.get("/health")
    assert response.status_code == 200
    assert response.json()["gateway"] == {
        "source": "kong",
        "circuitBreakerState": "open",
        "lastSuccess": None,
    }
