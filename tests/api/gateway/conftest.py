"""The gateway alone (seed paths at the root) in front of a fake Kong served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import ADMIN_TOKEN, KONNECT_TOKEN, FakeKong, serving_kong
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock


@dataclass
class Gateway:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock

    async def metric(self, name: str, **labels: str) -> float:
        text = (await self.client.get("/metrics")).text
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and all(w in line for w in wanted):
                head, _, value = line.rpartition(" ")
                if head.split("{")[0] == name:
                    total += float(value)
        return total


OpenGateway = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture(scope="session")
def kong_server(secrets_seen: SecretsSeen) -> Iterator[tuple[FakeKong, str]]:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(KONNECT_TOKEN)
    kong = FakeKong()
    with serving_kong(kong) as base_url:
        yield kong, base_url


@pytest.fixture
def kong(kong_server: tuple[FakeKong, str]) -> FakeKong:
    kong_server[0].reset()
    return kong_server[0]


@pytest.fixture
def kong_url(kong_server: tuple[FakeKong, str]) -> str:
    return kong_server[1]


@pytest.fixture
def open_gateway(settings: Settings, kong_url: str) -> OpenGateway:
    """``async with open_gateway(**gateway_settings) as gw``: the app, a client, its clock."""

    @asynccontextmanager
    async def open_(
        *, modules: list[str] | None = None, top: dict[str, Any] | None = None, **gateway: Any
    ) -> AsyncIterator[Gateway]:
        data = settings.model_dump(mode="python")
        config: dict[str, Any] = {
            "kong_admin_url": kong_url,
            "kong_admin_token": ADMIN_TOKEN,
            "kong_retry_backoff_s": 0,
            # The test client (127.0.0.1) stands for Kong; trust is tested in test_trusted_proxies.
            "trusted_proxies": ["127.0.0.1/32"],
        }
        config.update(gateway)
        data.update(modules=modules or ["gateway"], gateway=config, **(top or {}))
        clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
        app = create_app(Settings.model_validate(data), clock=clock)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield Gateway(app, c, clock)

    return open_


def consumer_headers(consumer_id: str, username: str = "example-consumer") -> dict[str, str]:
    return {
        "X-Consumer-ID": consumer_id,
        "X-Consumer-Username": username,
        "X-Anonymous-Consumer": "false",
    }
