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


async def test_without_a_secret_or_networks_no_consumer_header_is_believed(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    # Item 6: loopback used to be trusted by default; the default now trusts nothing.
    credential = kong.add_consumer()
    async with open_gateway(trusted_proxies=[]) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_001"
    assert kong.calls == []


async def test_a_forwarded_for_is_not_the_peer_the_trust_is_decided_on(
    open_gateway: OpenGateway, kong: FakeKong
) -> None:
    credential = kong.add_consumer()
    async with open_gateway(trusted_proxies=["10.0.0.0/8"]) as gw:
        headers = consumer_headers(credential.consumer_id) | {"X-Forwarded-For": "10.9.9.9"}
        response = await gw.client.get("/tokens", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_001"


async def test_with_both_set_kong_needs_the_secret_and_its_network(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    shared = secrets_seen.add("proxy-" + secrets.token_urlsafe(24))
    headers = consumer_headers(credential.consumer_id) | {"X-Gateway-Secret": shared}
    async with open_gateway(trusted_proxies=["127.0.0.1/32"], proxy_secret=shared) as gw:
        assert (await gw.client.get("/tokens", headers=headers)).status_code == 200
        no_secret = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    async with open_gateway(trusted_proxies=["10.0.0.0/8"], proxy_secret=shared) as gw:
        elsewhere = await gw.client.get("/tokens", headers=headers)
    assert no_secret.status_code == 401
    assert elsewhere.status_code == 401
