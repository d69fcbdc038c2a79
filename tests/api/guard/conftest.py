from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import CLIENT_ID, CLIENT_SECRET, PASSWORD, FakeIssuer
from tokend.app import create_app
from tokend.config import Settings
from tokend.guard.settings import GuardSettings


@pytest.fixture
def issuer(secrets_seen: SecretsSeen) -> Iterator[FakeIssuer]:
    secrets_seen.add(CLIENT_SECRET)
    secrets_seen.add(PASSWORD)
    fake = FakeIssuer()
    with fake.serve():
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture(params=["alone", "all-in-one"])
def mount(request: pytest.FixtureRequest) -> str:
    """Where the guard's routes are: at the root alone, under /guard in the all-in-one app."""
    return "" if request.param == "alone" else "/guard"


def guard_block(issuer: FakeIssuer, **extra: object) -> GuardSettings:
    return GuardSettings.model_validate(
        {
            "KEYCLOAK_SERVER_URL": issuer.base,
            "KEYCLOAK_REALM": issuer.realm,
            "KEYCLOAK_CLIENT_ID": CLIENT_ID,
            "KEYCLOAK_CLIENT_SECRET": CLIENT_SECRET,
            **extra,
        }
    )


@pytest.fixture
def guard_settings(settings: Settings, issuer: FakeIssuer, mount: str) -> Settings:
    modules = ["guard"] if mount == "" else list(settings.modules)
    return settings.model_copy(update={"guard": guard_block(issuer), "modules": modules})


@pytest.fixture
async def guard_app(guard_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(guard_settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def guard_client(guard_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guard_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
