"""The console's gateway page shows the consumer source's health: the Kong Admin API (a fake
Kong served over real HTTP), its URL without credentials, the last answer and failure (no
secret), the consumers seen, the circuit breaker; "check now" asks Kong, behind CSRF, audited."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.api.console.conftest import Console, serving_console
from tests.api.gateway.conftest import consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import ADMIN_TOKEN, FakeKong, serving_kong
from tokend.config import Settings


@pytest.fixture(scope="module")
def fake_kong() -> Iterator[tuple[FakeKong, str]]:
    kong = FakeKong()
    with serving_kong(kong) as base_url:
        yield kong, base_url


def _field(page: str, name: str) -> str:
    found = re.search(rf'id="source-{name}">(.*?)</(?:dd|code)>', page, re.S)
    assert found, page
    return found[1].strip()


async def test_the_gateway_page_shows_the_kong_sources_health_and_checks_it_now(
    settings: Settings, fake_kong: tuple[FakeKong, str], secrets_seen: SecretsSeen
) -> None:
    kong, base_url = fake_kong
    kong.reset()
    secrets_seen.add(ADMIN_TOKEN)
    gateway = {
        "source": "kong", "kong_admin_url": base_url, "kong_admin_token": ADMIN_TOKEN,
        "kong_retry_backoff_s": 0, "trusted_proxies": ["127.0.0.1/32"],
        "breaker_min_calls": 2, "breaker_failure_ratio": 0.5,
    }  # fmt: skip
    async with serving_console(settings, gateway=gateway) as console:
        admin = await console.user("root@example.org", ["admin"])
        csrf = console.sign_in_as(admin)
        page = (await console.client.get("/console/gateway")).text
        assert _field(page, "kind") == "Kong Admin API"
        assert _field(page, "url") == base_url  # credentials never (tests/unit: safe_url)
        assert ADMIN_TOKEN not in page
        assert _field(page, "breaker") == "closed"
        assert _field(page, "last-success") == "none yet"
        assert _field(page, "consumers") == "0"
        assert "Create a consumer" not in page  # Kong manages them

        # Two consumers get tokens through Kong: two consumers seen, a last answer.
        for credential in (kong.add_consumer(), kong.add_consumer()):
            secrets_seen.add(credential.secret)
            got = await console.client.get(
                "/gateway/tokens", headers=consumer_headers(credential.consumer_id)
            )
            assert got.status_code == 200, got.text
        page = (await console.client.get("/console/gateway")).text
        assert _field(page, "consumers") == "2"
        assert _field(page, "last-success") != "none yet"
        assert _field(page, "last-error") == "none"

        # Kong fails: the failure is shown (no secret), and the breaker opens.
        kong.failing_status = 503
        for _ in range(2):
            credential = kong.add_consumer()
            secrets_seen.add(credential.secret)
            await console.client.get(
                "/gateway/tokens", headers=consumer_headers(credential.consumer_id)
            )
        page = (await console.client.get("/console/gateway")).text
        assert _field(page, "last-error").startswith("Kong answered 503")
        assert _field(page, "breaker") == "open"

        # "Check now": a form with the session's CSRF token, audited either way.
        assert (
            await console.client.post("/console/gateway/source/check", data={"csrf_token": "x"})
        ).status_code == 403
        failed = await console.client.post(
            "/console/gateway/source/check", data={"csrf_token": csrf}
        )
        assert failed.status_code == 303
        assert "did+not+answer" in failed.headers["location"]
        kong.failing_status = None
        answered = await console.client.post(
            "/console/gateway/source/check", data={"csrf_token": csrf}
        )
        assert answered.status_code == 303
        assert "answered" in answered.headers["location"]
        log = (
            await console.client.get(f"/console/audit?actor={admin.id}&action=gateway_source")
        ).text
        assert log.count("gateway_source_checked") == 2
        assert "failed" in log
        assert "Kong answered 503" in log


async def test_the_standalone_source_shows_its_table_and_cannot_be_checked(
    console: Console,
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    page = (await console.client.get("/console/gateway")).text
    assert _field(page, "kind") == "tokend's consumer table (standalone)"
    assert 'id="source-url"' not in page
    assert "Check the source now" not in page
    assert "Create a consumer" in page
    refused = await console.client.post("/console/gateway/source/check", data={"csrf_token": csrf})
    assert refused.status_code == 404
