"""The same provider with Redis behind the cache and the rate limits (production shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.api.oidc.conftest import ADMIN_TOKEN, RegisteredClient
from tests.api.oidc.test_authorization_code import tokens_for
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings

pytestmark = pytest.mark.redis


@pytest.fixture
async def oidc_settings(
    settings: Settings, secrets_seen: SecretsSeen, redis_url: str, redis_prefix: str
) -> AsyncIterator[Settings]:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(
        modules=["oidc"],
        admin_token=ADMIN_TOKEN,
        redis={"url": redis_url, "key_prefix": redis_prefix},
        jobs={"backend": "inprocess"},
    )
    yield Settings.model_validate(data)
    client = aioredis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_code_flow_refresh_and_revocation_work_through_redis(
    http: httpx.AsyncClient, register: Any, user: dict[str, Any]
) -> None:
    rp: RegisteredClient = await register()
    tokens = await tokens_for(http, rp, user)
    refreshed = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp.auth,
    )
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    await http.post("/revoke", data={"token": access}, auth=rp.auth)
    info = await http.post("/introspect", data={"token": access}, auth=rp.auth)
    assert info.json() == {"active": False}
