"""Consumer headers are believed only from Kong: a trusted address or the shared header secret."""

from __future__ import annotations

import secrets

from tests.api.gateway.conftest import OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import FakeKong


async def test_spoofed_consumer_headers_from_an_untrusted_address_are_a_401(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    # The test client connects from 127.0.0.1; only Kong's network is trusted here.
    async with open_gateway(trusted_proxies=["10.0.0.0/8", "fd00::/8"]) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "AUTH_001"
    assert body["extensions"] == {
        "reason": "Consumer headers are accepted only from the API gateway"
    }
    assert kong.calls == []


async def test_the_shared_header_secret_lets_kong_in_from_anywhere(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    shared = secrets_seen.add("proxy-" + secrets.token_urlsafe(24))
    async with open_gateway(trusted_proxies=[], proxy_secret=shared) as gw:
        good = await gw.client.get(
            "/tokens",
            headers=consumer_headers(credential.consumer_id) | {"X-Gateway-Secret": shared},
        )
        wrong = await gw.client.get(
            "/tokens",
            headers=consumer_headers(credential.consumer_id) | {"X-Gateway-Secret": "x" * 30},
        )
    assert good.status_code == 200, good.text
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "AUTH_001"


async def test_loopback_is_trusted_by_default(open_gateway: OpenGateway, kong: FakeKong) -> None:
    credential = kong.add_consumer()
    async with open_gateway() as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 200
