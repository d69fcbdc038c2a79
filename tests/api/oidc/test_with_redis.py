"""The same provider with Redis behind the cache and the rate limits (production shape)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.api.oidc.conftest import ADMIN_TOKEN, Register, RegisteredClient, replica
from tests.api.oidc.test_authorization_code import tokens_for
from tests.api.oidc.test_durable_revocation import assert_refused
from tests.api.oidc.test_refresh_and_revocation import introspect, refresh
from tests.conftest import shared_redis
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock

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
        redis=shared_redis(redis_url, redis_prefix),
        jobs={"backend": "inprocess"},
    )
    yield Settings.model_validate(data)
    await forget_everything_in_redis(redis_url, redis_prefix)


async def test_code_flow_refresh_and_revocation_work_through_redis(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
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


async def forget_everything_in_redis(redis_url: str, redis_prefix: str) -> None:
    """FLUSHALL for this app: every key under its prefix (the Redis is shared with others)."""
    client = aioredis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{redis_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_a_revocation_reaches_other_replicas_at_once_and_survives_a_flushed_redis(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
) -> None:
    rp: RegisteredClient = await register()
    tokens = await tokens_for(http, rp, user)
    access = tokens["access_token"]
    async with replica(oidc_settings, clock) as other:
        # The other replica caches the database's "not revoked" answer, memory tier included.
        assert (await introspect(other, rp, access))["active"] is True
        assert (await introspect(other, rp, access))["active"] is True
        assert (await http.post("/revoke", data={"token": access}, auth=rp.auth)).status_code == 200
        assert (await introspect(other, rp, access)) == {"active": False}
    await forget_everything_in_redis(redis_url, redis_prefix)
    clock.advance(oidc_settings.cache.memory_ttl_s + 1)  # this replica's memory tier lets go
    await assert_refused(http, rp, access)
    async with replica(oidc_settings, clock) as fresh:
        await assert_refused(fresh, rp, access)


async def test_a_revoked_refresh_family_stays_revoked_after_a_flushed_redis(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
) -> None:
    rp: RegisteredClient = await register()
    first = await tokens_for(http, rp, user)
    second = (await refresh(http, rp, first["refresh_token"])).json()
    clock.advance(11)  # past the grace period: the reuse is a leak
    assert (await refresh(http, rp, first["refresh_token"])).json()["error"] == "invalid_grant"
    await forget_everything_in_redis(redis_url, redis_prefix)
    async with replica(oidc_settings, clock) as fresh:
        await assert_refused(fresh, rp, second["access_token"])


async def test_a_device_code_polled_on_one_replica_is_approved_on_another(
    http: httpx.AsyncClient,
    register: Register,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
) -> None:
    from tests.api.oidc.test_device_flow import (
        approve,
        device_client,
        poll,
        start,
    )

    rp = await device_client(register)
    started = await start(http, rp.client_id, "openid")
    async with replica(oidc_settings, clock) as other:
        assert (await poll(http, rp.client_id, started["device_code"])).json()["error"] == (
            "authorization_pending"
        )
        # The interval is held in the database: the other replica refuses a poll too soon.
        early = await poll(other, rp.client_id, started["device_code"])
        assert early.json()["error"] == "slow_down"
        page = await approve(other, started["user_code"], user["email"])
        assert "Device connected" in page.text
        clock.advance(10)
        # Both replicas polled at once: one token response, the other refused.
        answers = await asyncio.gather(
            poll(http, rp.client_id, started["device_code"]),
            poll(other, rp.client_id, started["device_code"]),
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400]
    refused = next(a for a in answers if a.status_code == 400)
    assert refused.json()["error"] in {"slow_down", "invalid_grant"}


async def test_a_ciba_request_is_approved_once_across_replicas(
    register: Register,
    user: dict[str, Any],
    oidc_settings: Settings,
    clock: FrozenClock,
    secrets_seen: SecretsSeen,
) -> None:
    from tests.api.oidc.accounts_helpers import account_sign_in
    from tests.api.oidc.conftest import csrf_of
    from tests.api.oidc.test_ciba import REQUEST_ID, ciba_client, poll, started

    data = oidc_settings.model_dump(mode="python")
    data["oidc"] = {**data.get("oidc", {}), "ciba": {"approval_page": True}}
    with_page = Settings.model_validate(data)
    rp = await ciba_client(register)
    async with replica(with_page, clock) as one, replica(with_page, clock) as two:
        auth_req_id = await started(one, rp, secrets_seen, login_hint=user["email"])
        assert (await poll(two, rp, auth_req_id)).json()["error"] == "authorization_pending"
        # The interval is held in the database: the other replica refuses a poll too soon.
        assert (await poll(one, rp, auth_req_id)).json()["error"] == "slow_down"
        await account_sign_in(one, user["email"])
        two.cookies.update(one.cookies)  # the same browser, balanced onto both replicas
        page = await one.get("/ciba")
        match = REQUEST_ID.search(page.text)
        assert match is not None, page.text
        form = {"csrf_token": csrf_of(page.text), "request_id": match.group(1)}
        answers = await asyncio.gather(
            one.post("/ciba", data={**form, "decision": "approve"}),
            two.post("/ciba", data={**form, "decision": "deny"}),
        )
        outcomes = sorted(a.headers["location"] for a in answers)
        assert outcomes in (
            ["/ciba?done=approved", "/ciba?done=gone"],
            ["/ciba?done=denied", "/ciba?done=gone"],
        )
        clock.advance(15)
        polls = await asyncio.gather(poll(one, rp, auth_req_id), poll(two, rp, auth_req_id))
    errors = sorted(p.json().get("error", "") for p in polls)
    if outcomes[0] == "/ciba?done=approved":
        assert sorted(p.status_code for p in polls) == [200, 400]
        assert errors[1] in {"slow_down", "invalid_grant"}
    else:
        assert errors == ["access_denied", "access_denied"] or "slow_down" in errors
