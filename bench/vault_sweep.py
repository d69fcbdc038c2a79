"""`python -m bench.vault_sweep`: the vault's background refresher against a local provider.

10,000 connections due for refresh in PostgreSQL, two worker processes sweeping them (Redis
locks, SKIP LOCKED claims), a fake provider served over HTTP that counts refreshes per refresh
token. Reports refreshes per second and duplicates (a connection refreshed twice); the targets
are >= 500 refreshes/s and zero duplicates. Needs TOKEND_BENCH_DATABASE_URL (or
TOKEND_TEST_DATABASE_URL) and TOKEND_BENCH_REDIS_URL (or TOKEND_TEST_REDIS_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from urllib.parse import parse_qsl

import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.e2e.server import free_port

from tokend.cache import open_cache, open_locks
from tokend.config import CacheSettings, DatabaseSettings, Environment, LogSettings, RedisSettings
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.http import open_http_client
from tokend.jobs.base import Jobs
from tokend.obs.logging import configure_logging
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.vault.events import Events
from tokend.vault.metrics import VaultMetrics
from tokend.vault.models import VaultClient, VaultToken
from tokend.vault.provider_client import ProviderClient
from tokend.vault.providers import Catalog, parse_entries
from tokend.vault.refresher import Refresher
from tokend.vault.sealing import secret_aad
from tokend.vault.settings import VaultSettings
from tokend.vault.sql import VaultStore

SECRET = "bench-vault-sweep-" + "k" * 32


class Provider:
    """The provider's token endpoint; ``/stats`` tells how often each refresh token came."""

    def __init__(self) -> None:
        self.refreshes: Counter[str] = Counter()

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        self.refreshes[form.get("refresh_token", "")] += 1
        return JSONResponse({"access_token": "at-" + secrets.token_urlsafe(16), "expires_in": 3600})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(dict(self.refreshes))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/stats", self.stats),
            ]
        )


def _serve_provider(port: int) -> None:
    # A process of its own: in a thread of the bench it would fight the workers for the GIL.
    uvicorn.run(Provider().app(), host="127.0.0.1", port=port, log_level="warning")


def _catalog(base_url: str) -> Catalog:
    entries = {
        "local": {
            "display_name": "local",
            "authorization_url": f"{base_url}/authorize",
            "token_url": f"{base_url}/token",
        }
    }
    return Catalog(MappingProxyType(parse_entries(entries)), ("bench",))


async def _seed(db: DatabaseSettings, count: int) -> None:
    database = open_database(db)
    cipher = FieldCipher.from_secrets(SECRET)
    now = datetime.now(UTC)
    async with database.engine.begin() as conn:
        for table in ("vault_oauth_states", "vault_tokens", "vault_branches", "vault_clients"):
            await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed names)
        clients = [
            {
                "id": i,
                "provider": "local",
                "client_id": f"bench-{i}",
                "client_secret_enc": cipher.encrypt_text("s", aad=secret_aad(i, "client_secret")),
                "redirect_uri": "https://bench.example/cb",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, count + 1)
        ]
        await conn.execute(insert(VaultClient), clients)
        tokens = [
            {
                "client_id": i,
                "access_token_enc": cipher.encrypt_text("a", aad=secret_aad(i, "access_token")),
                "refresh_token_enc": cipher.encrypt_text(
                    f"rt-{i}", aad=secret_aad(i, "refresh_token")
                ),
                "token_type": "Bearer",
                "expires_at": now + timedelta(seconds=60),
                "is_valid": True,
                "is_revoked": False,
                "status": "active",
                "generation": 1,
                "failure_count": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, count + 1)
        ]
        await conn.execute(insert(VaultToken), tokens)
    await database.close()


async def _sweep_until_done(
    db: DatabaseSettings, redis: RedisSettings, base_url: str, concurrency: int
) -> None:
    clock = SystemClock()
    registry = CollectorRegistry()
    database = open_database(db)
    cache = open_cache(redis, CacheSettings(), registry, clock)
    http = open_http_client()
    settings = VaultSettings(
        refresh_batch_size=500, refresh_concurrency=concurrency, refresh_jitter_s=0.0
    )

    def no_jobs() -> Jobs:
        raise RuntimeError("the bench clients have no webhooks")

    async def forget(_client_pk: int) -> None:
        return None

    refresher = Refresher(
        store=VaultStore(database, FieldCipher.from_secrets(SECRET), clock),
        providers=ProviderClient(http, cache, 10.0),
        catalog=_catalog(base_url),
        locks=open_locks(redis, database, cache),
        settings=settings,
        clock=clock,
        metrics=VaultMetrics.register(registry),
        events=Events(no_jobs, clock),
        on_change=forget,
    )
    try:
        while (await refresher.sweep()).due:
            pass
    finally:
        await http.aclose()
        await cache.close()
        await database.close()


def _worker(db: dict[str, object], redis: dict[str, object], base_url: str, conc: int) -> None:
    # As in production: JSON logs, warnings only (a line per refresh would be measured too).
    configure_logging(LogSettings(level="warning", format="json"), Environment.PRODUCTION)
    asyncio.run(
        _sweep_until_done(
            DatabaseSettings.model_validate(db),
            RedisSettings.model_validate(redis),
            base_url,
            conc,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vault_sweep")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="refreshes at once per worker")
    args = parser.parse_args()
    db_url = os.environ.get("TOKEND_BENCH_DATABASE_URL") or os.environ["TOKEND_TEST_DATABASE_URL"]
    redis_url = os.environ.get("TOKEND_BENCH_REDIS_URL") or os.environ["TOKEND_TEST_REDIS_URL"]
    schema = f"bench_vault_{secrets.token_hex(3)}"
    db = DatabaseSettings(url=db_url, schema_name=schema, pool_size=20)
    redis = RedisSettings(url=redis_url, key_prefix=f"bench-vault:{schema}:")
    migrate.upgrade(db)
    try:
        asyncio.run(_seed(db, args.connections))
        context = multiprocessing.get_context("spawn")
        port = free_port()
        provider = context.Process(target=_serve_provider, args=(port,), daemon=True)
        provider.start()
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(base_url)
        try:
            workers = [
                context.Process(
                    target=_worker,
                    args=(db.model_dump(), _redis_dump(redis), base_url, args.concurrency),
                )
                for _ in range(args.workers)
            ]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed_s = time.perf_counter() - started
            counts: dict[str, int] = httpx.get(f"{base_url}/stats").json()
        finally:
            provider.terminate()
            provider.join()
        refreshed = len(counts)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        result = {
            "scenario": "vault_refresh_sweep",
            "connections": args.connections,
            "workers": args.workers,
            "refreshed": refreshed,
            "duplicates": duplicates,
            "seconds": round(elapsed_s, 2),
            "refreshes_per_s": round(refreshed / elapsed_s, 1),
            "cores": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
    finally:
        asyncio.run(_drop(db_url, schema))


def _wait_for(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base_url}/stats", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the bench provider did not start")


def _redis_dump(redis: RedisSettings) -> dict[str, object]:
    assert redis.url is not None
    return {"url": redis.url.get_secret_value(), "key_prefix": redis.key_prefix}


async def _drop(url: str, schema: str) -> None:
    database = open_database(DatabaseSettings(url=url))
    async with database.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await database.close()


if __name__ == "__main__":
    main()
