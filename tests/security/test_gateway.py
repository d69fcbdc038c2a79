"""The gateway's trust in Kong's consumer headers, attacked through a real ``tokend serve``.

Item 6: the proxy check looked at the ASGI client, which uvicorn had already replaced with the
``X-Forwarded-For`` value because the TCP peer was loopback (a trusted forwarder): a direct
caller naming a trusted address there, with forged ``X-Consumer-ID`` headers, got a JWT for any
Kong consumer. Loopback was trusted by default too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.e2e.server import Server, free_port
from tests.secrets_seen import SecretsSeen
from tests.security.serve import tokend_serve
from tests.unit.gateway.fake_kong import ADMIN_TOKEN, FakeKong, serving_kong

pytestmark = pytest.mark.e2e

PROXY_SECRET = "kong-to-tokend-" + secrets.token_urlsafe(24)

Gateway = Callable[..., AbstractContextManager[Server]]


@pytest.fixture(scope="module")
def kong(secrets_seen: SecretsSeen) -> Iterator[tuple[FakeKong, str]]:
    secrets_seen.add(ADMIN_TOKEN)
    fake = FakeKong()
    with serving_kong(fake) as base_url:
        yield fake, base_url


@pytest.fixture
def gateway(tmp_path: Path, kong: tuple[FakeKong, str], secrets_seen: SecretsSeen) -> Gateway:
    """``with gateway(**env) as server``: ``tokend serve --only gateway`` in front of Kong."""
    _, kong_url = kong
    secrets_seen.add(PROXY_SECRET)

    def start(**env: str) -> AbstractContextManager[Server]:
        return tokend_serve(
            tmp_path,
            secrets_seen,
            "--only",
            "gateway",
            TOKEND_GATEWAY__SOURCE="kong",
            TOKEND_GATEWAY__KONG_ADMIN_URL=kong_url,
            TOKEND_GATEWAY__KONG_ADMIN_TOKEN=ADMIN_TOKEN,
            # The stand-in Kong Admin API runs on loopback: the outbound policy must name it.
            TOKEND_HTTP__ALLOW_HOSTS=urlsplit(kong_url).netloc,
            environment=env,
        )

    return start


def consumer_headers(consumer_id: str, **extra: str) -> dict[str, str]:
    return {"X-Consumer-ID": consumer_id, "X-Consumer-Username": "victim", **extra}


def test_a_forwarded_for_naming_a_trusted_proxy_does_not_make_a_direct_caller_kong(
    gateway: Gateway, kong: tuple[FakeKong, str]
) -> None:
    fake, _ = kong
    victim = fake.add_consumer()
    with gateway(TOKEND_GATEWAY__TRUSTED_PROXIES='["10.0.0.0/8"]') as server:
        forged = consumer_headers(victim.consumer_id, **{"X-Forwarded-For": "10.9.9.9"})
        response = httpx.get(f"{server.base_url}/tokens", headers=forged, timeout=10)
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["code"] == "AUTH_001"
    assert body["extensions"] == {
        "reason": "Consumer headers are accepted only from the API gateway"
    }


def test_loopback_is_not_trusted_by_default(gateway: Gateway, kong: tuple[FakeKong, str]) -> None:
    fake, _ = kong
    victim = fake.add_consumer()
    with gateway() as server:
        response = httpx.get(
            f"{server.base_url}/tokens", headers=consumer_headers(victim.consumer_id), timeout=10
        )
        log = server.log()
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "AUTH_001"
    # Started without any way to trust Kong: said once, at start-up.
    assert "gateway.kong_untrusted" in log


def test_the_shared_proxy_secret_lets_kong_in_and_a_wrong_one_does_not(
    gateway: Gateway, kong: tuple[FakeKong, str], secrets_seen: SecretsSeen
) -> None:
    fake, _ = kong
    consumer = fake.add_consumer()
    with gateway(TOKEND_GATEWAY__PROXY_SECRET=PROXY_SECRET) as server:
        url = f"{server.base_url}/tokens"
        good = httpx.get(
            url,
            headers=consumer_headers(consumer.consumer_id, **{"X-Gateway-Secret": PROXY_SECRET}),
            timeout=10,
        )
        wrong = httpx.get(
            url,
            headers=consumer_headers(
                consumer.consumer_id,
                **{"X-Gateway-Secret": "x" * 40, "X-Forwarded-For": "10.0.0.1"},
            ),
            timeout=10,
        )
    assert good.status_code == 200, good.text
    token = secrets_seen.add(good.json()["access_token"])
    assert jwt.decode(token, consumer.secret, algorithms=["HS256"], audience="example-api")
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "AUTH_001"


def test_addresses_and_secret_together_need_both(
    gateway: Gateway, kong: tuple[FakeKong, str]
) -> None:
    fake, _ = kong
    consumer = fake.add_consumer()
    with gateway(
        TOKEND_GATEWAY__PROXY_SECRET=PROXY_SECRET,
        TOKEND_GATEWAY__TRUSTED_PROXIES='["10.0.0.0/8"]',
    ) as server:
        headers = consumer_headers(consumer.consumer_id, **{"X-Gateway-Secret": PROXY_SECRET})
        # The secret is right, but this caller's TCP peer is loopback, not Kong's network.
        response = httpx.get(f"{server.base_url}/tokens", headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_001"


def test_production_warns_when_only_addresses_are_trusted(
    gateway: Gateway, kong: tuple[FakeKong, str]
) -> None:
    with gateway(
        TOKEND_ENV="production",
        TOKEND_GATEWAY__TRUSTED_PROXIES='["10.0.0.0/8"]',
        TOKEND_METRICS__PORT=str(free_port()),  # production protects /metrics
    ) as server:
        log = server.log()
    assert "gateway.address_only_trust" in log
