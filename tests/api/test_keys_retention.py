"""The app's keyring job removes keys retired longer than the retention; tokend then refuses
what they signed (the guard's own-issuer path) and stops publishing them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.conftest import TEST_SECRET_KEY
from tests.secrets_seen import SecretsSeen
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.jwt import mint
from tokend.core.keys import REMOVE_RETIRED_EVERY_S, REMOVE_RETIRED_JOB
from tokend.jobs.inprocess import InProcessJobs
from tokend.store import migrate
from tokend.store.settings import DatabaseSettings


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def guard_alone(tmp_path: Path) -> Settings:
    # A database of its own: moving the clock a day on would remove other tests' retired keys.
    database = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    migrate.upgrade(database)
    return Settings(
        issuer="http://testserver",
        secret_key=TEST_SECRET_KEY,
        database=database,
        modules=["guard"],
        log={"format": "json", "level": "info"},
    )


@pytest.fixture
async def guard_app(guard_alone: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(guard_alone, clock=clock)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def client(guard_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guard_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _published(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


async def test_the_keyring_job_unpublishes_a_key_after_the_retention_and_its_tokens_fail(
    guard_app: FastAPI, client: httpx.AsyncClient, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    resources = guard_app.state.resources.get()
    keyring = resources.keyring
    old = keyring.signing_key("ES256")
    now = int(clock.timestamp())
    issuer = guard_app.state.settings.issuer
    claims = {
        "iss": issuer,
        "aud": issuer,  # the guard served alone: its own URL is the issuer's
        "sub": "svc-1",
        "iat": now,
        "exp": now + 10**7,
        "jti": "at-retention",  # every access token tokend issues has one (the guard wants it)
    }
    # Valid far beyond the retention, so only the key's removal can refuse it.
    token = secrets_seen.add(mint(claims, old, typ="at+jwt"))
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/auth/me", headers=bearer)).status_code == 200
    await keyring.rotate("ES256")
    jobs = resources.jobs
    assert isinstance(jobs, InProcessJobs)
    job = jobs.specs[REMOVE_RETIRED_JOB]
    assert job.every_s == REMOVE_RETIRED_EVERY_S
    retention_s = guard_app.state.settings.retired_key_retention_s()

    clock.advance(retention_s - 1)
    await job.run()
    assert old.kid in await _published(client)
    assert (await client.get("/auth/me", headers=bearer)).status_code == 200

    clock.advance(1)
    await job.run()
    assert old.kid not in await _published(client)
    refused = await client.get("/auth/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "TOKEN_INVALID"
