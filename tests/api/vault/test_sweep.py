"""The background sweep on two replicas: each due connection is refreshed once, whoever sweeps."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.conftest import TEST_SECRET_KEY
from tokend.app import create_app
from tokend.config import Settings
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import open_database
from tokend.vault.capability import SWEEP_JOB
from tokend.vault.provider_client import TokenSet
from tokend.vault.sql import SqlConnections

CONNECTIONS = 12


@asynccontextmanager
async def two_replicas(
    settings: Settings, clock: FrozenClock, redis_url: str, redis_prefix: str
) -> AsyncIterator[list[FastAPI]]:
    data = settings.model_dump(mode="python")
    # A loaded test machine answers Redis slower than the 0.5 s default: a lock request timing
    # out leaves its group leased until the lease ends, which a frozen clock never reaches.
    data["redis"] = {"url": redis_url, "key_prefix": redis_prefix, "socket_timeout_s": 5.0}
    data["jobs"] = {"backend": "inprocess"}
    shared = Settings.model_validate(data)
    replicas: list[FastAPI] = [create_app(shared, clock=clock), create_app(shared, clock=clock)]
    try:
        async with AsyncExitStack() as stack:
            for app in replicas:
                await stack.enter_async_context(LifespanManager(app))
            yield replicas
    finally:
        client = Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def connect_many(
    api: httpx.AsyncClient, settings: Settings, provider: FakeProvider, clock: FrozenClock
) -> dict[int, str]:
    """Clients with apps of their own at the provider, connected with tokens that expire in a
    minute (due for the sweep); client pk → refresh token."""
    db = open_database(settings.database)
    store = SqlConnections(db, FieldCipher.from_secrets(TEST_SECRET_KEY), clock)
    seeded: dict[int, str] = {}
    try:
        for _ in range(CONNECTIONS):
            app_id, app_secret = f"sweep-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
            provider.other_apps[app_id] = app_secret
            pk = await Connector(api, provider).register(client_id=app_id, client_secret=app_secret)
            refresh_token = "rt-" + secrets.token_urlsafe(12)
            provider.grant(refresh_token)
            tokens = TokenSet("at-" + secrets.token_urlsafe(12), refresh_token, "Bearer", None, 60)
            await store.store_connection(pk, tokens)
            seeded[pk] = refresh_token
    finally:
        await db.close()
    return seeded


async def test_two_replicas_sweeping_at_once_refresh_each_due_connection_once(
    vault_settings: Callable[..., Settings],
    provider: FakeProvider,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
) -> None:
    provider.rotates = True  # a second refresh would present the first one's rotated token
    settings = vault_settings(refresh_batch_size=5, refresh_concurrency=3)
    async with two_replicas(settings, clock, redis_url, redis_prefix) as replicas:
        transport = httpx.ASGITransport(app=replicas[0])
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            seeded = await connect_many(api, settings, provider, clock)
            sweeps = [app.state.resources.get().jobs.specs[SWEEP_JOB] for app in replicas]
            # Batches of 5 (the database may hold other tests' connections, due too): sweep on
            # both replicas at once until every connection was refreshed, then once more.
            for _ in range(20):
                await asyncio.gather(*(sweep.run() for sweep in sweeps))
                if provider.refresh_calls >= CONNECTIONS:
                    break
            await asyncio.gather(*(sweep.run() for sweep in sweeps))
            presented = provider.refreshes_by_token()
            assert {token: presented[token] for token in seeded.values()} == dict.fromkeys(
                seeded.values(), 1
            )
            assert provider.refresh_calls == CONNECTIONS
            # Each sweep stored the refresh token the provider rotated to: the next refresh
            # presents it.
            rotated = set(provider.issued_refresh_tokens)
            for pk in seeded:
                assert (await api.post("/tokens/refresh", json={"client_id": pk})).is_success
                assert provider.token_forms[-1]["refresh_token"] in rotated
