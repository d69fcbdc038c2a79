"""Two replicas on one database and one Redis: a refresh happens once, whoever asks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.queries import selects_from
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock


async def test_fifty_concurrent_validates_on_two_replicas_refresh_once(
    vault_settings: Callable[..., Settings],
    provider: FakeProvider,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
) -> None:
    base = vault_settings()
    data = base.model_dump(mode="python")
    data["redis"] = {"url": redis_url, "key_prefix": redis_prefix}
    data["jobs"] = {"backend": "inprocess"}
    settings = Settings.model_validate(data)
    replicas = [create_app(settings, clock=clock), create_app(settings, clock=clock)]
    provider.refresh_delay_s = 0.3  # a wide window for the replicas to collide in
    provider.rotates = True
    async with LifespanManager(replicas[0]), LifespanManager(replicas[1]):
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver", timeout=30
            )
            for app in replicas
        ]
        try:
            pk = await Connector(clients[0], provider).connect()
            clock.advance(3600 - 60)  # about to expire
            responses = await asyncio.gather(
                *(clients[i % 2].get(f"/tokens/validate/{pk}") for i in range(50))
            )
        finally:
            for client in clients:
                await client.aclose()
            await _drop_keys(redis_url, redis_prefix)
    assert provider.refresh_calls == 1
    new_token = provider.issued_access_tokens[-1]
    bodies = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert all(b["is_valid"] is True and b["access_token"] == new_token for b in bodies)


async def _drop_keys(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def test_concurrent_validates_missing_the_cache_share_one_database_read(
    api: httpx.AsyncClient, connector: Connector, vault_app: FastAPI, clock: FrozenClock
) -> None:
    pk = await connector.connect()
    assert (await api.get(f"/tokens/validate/{pk}")).json()["is_valid"] is True
    clock.advance(120)  # past vault.cache_ttl_s, well before the token's expiry margin
    with selects_from(vault_app, "vault_tokens") as reads:
        answers = await asyncio.gather(*(api.get(f"/tokens/validate/{pk}") for _ in range(20)))
    assert all(answer.json()["is_valid"] is True for answer in answers)
    assert len(reads) == 1
