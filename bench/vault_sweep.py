"""`python -m bench.vault_sweep`: the vault's background refresher against a local provider.

10,000 (or ``--connections``) connections due for refresh in PostgreSQL, two worker processes
sweeping them (Redis locks, SKIP LOCKED claims), a fake provider served over HTTP (uvicorn) that
counts refreshes per refresh token. Reports refreshes per second and duplicates (a connection
refreshed twice); the targets are >= 500 refreshes/s and zero duplicates.

The sweep runs with tuned settings, not the shipping ones, and every row says so (``tuned``):
the shipping refresher sweeps every 60 s in batches of 200, 10 at a time, each group of 5
starting after a random delay up to 1 s to spread the load: that rate is set by the delays,
not by the work. The bench asks how fast the work itself goes: batches of 500, 32 at a time,
no delay, a pool of 32 database connections per worker. Needs TOKEND_BENCH_DATABASE_URL (or
TOKEND_TEST_DATABASE_URL) and TOKEND_BENCH_REDIS_URL (or TOKEND_TEST_REDIS_URL). Other drivers
call :func:`run_sweep`; the command line also writes ``bench/results/vault_refresh_sweep.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from types import MappingProxyType
from urllib.parse import parse_qsl

import anyio.to_thread
import httpx
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Receive, Scope, Send
from tests.e2e.server import REPO, free_port

from bench import git_sha
from bench.services import drop, service_urls
from tokend.cache.lock import open_locks
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.cache.tiered import open_cache
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.environment import Environment
from tokend.core.http import open_http_client
from tokend.core.settings import HttpSettings
from tokend.jobs.base import Jobs
from tokend.obs.logging import configure_logging
from tokend.obs.settings import LogSettings
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.vault.events import Events
from tokend.vault.metrics import VaultMetrics
from tokend.vault.models import VaultClient, VaultToken
from tokend.vault.provider_client import ProviderClient
from tokend.vault.providers import Catalog, parse_entries
from tokend.vault.refresher import Refresher
from tokend.vault.settings import VaultSettings
from tokend.vault.sql import SqlConnections
from tokend.vault.sql.sealing import secret_aad

SCENARIO = "vault_refresh_sweep"
RESULTS = REPO / "bench" / "results"
SECRET = "bench-vault-sweep-" + "k" * 32
#: The settings the sweep runs with, against their shipping defaults (module docstring).
BATCH_SIZE = 500
JITTER_S = 0.0
SEED_CHUNK = 10_000


def tuned(concurrency: int) -> dict[str, dict[str, float]]:
    """Each setting the sweep changes: ``{name: {"bench": value, "shipping": default}}``."""
    shipping, database = VaultSettings(), DatabaseSettings()
    return {
        "vault.refresh_batch_size": {
            "bench": BATCH_SIZE, "shipping": shipping.refresh_batch_size},
        "vault.refresh_concurrency": {
            "bench": concurrency, "shipping": shipping.refresh_concurrency},
        "vault.refresh_jitter_s": {"bench": JITTER_S, "shipping": shipping.refresh_jitter_s},
        "database.pool_size": {"bench": concurrency, "shipping": database.pool_size},
    }  # fmt: skip


class Provider:
    """The provider's token endpoint, as a bare ASGI app (no framework: the provider shares the
    two cores with the workers, so it should cost as little as a real HTTP server can);
    ``/stats`` tells how often each refresh token came."""

    def __init__(self) -> None:
        self.refreshes: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to set up
        if scope["path"] == "/token" and scope["method"] == "POST":
            form = dict(parse_qsl((await _body(receive)).decode()))
            self.refreshes[form.get("refresh_token", "")] += 1
            answer = {"access_token": "at-" + secrets.token_urlsafe(16), "expires_in": 3600}
            await _send_json(send, 200, answer)
        elif scope["path"] == "/stats":
            await _send_json(send, 200, dict(self.refreshes))
        else:
            await _send_json(send, 404, {"error": "not_found"})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, body: object) -> None:
    content = json.dumps(body).encode()
    length = str(len(content)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", length)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def _serve_provider(port: int) -> None:
    # A process of its own: in a thread of the bench it would fight the workers for the GIL.
    uvicorn.run(Provider(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


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
    try:
        async with database.engine.begin() as conn:
            for table in ("vault_oauth_states", "vault_tokens", "vault_branches", "vault_clients"):
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608  (fixed names)
        for first in range(1, count + 1, SEED_CHUNK):
            async with database.engine.begin() as conn:
                await _seed_chunk(conn, range(first, min(first + SEED_CHUNK, count + 1)))
    finally:
        await database.close()


async def _seed_chunk(conn: AsyncConnection, ids: range) -> None:
    """Clients ``ids``, each connected with a token due in a minute (encrypted like the vault's
    own store does)."""
    cipher = FieldCipher.from_secrets(SECRET)
    now = datetime.now(UTC)
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
        for i in ids
    ]
    await conn.execute(insert(VaultClient), clients)
    tokens = [
        {
            "client_id": i,
            "access_token_enc": cipher.encrypt_text("a", aad=secret_aad(i, "access_token")),
            "refresh_token_enc": cipher.encrypt_text(f"rt-{i}", aad=secret_aad(i, "refresh_token")),
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
        for i in ids
    ]
    await conn.execute(insert(VaultToken), tokens)


async def _sweep_until_done(
    db: DatabaseSettings, redis: RedisSettings, base_url: str, concurrency: int, go: Barrier
) -> float:
    """Sweep until nothing is due; the CPU seconds that took (this process)."""
    clock = SystemClock()
    registry = CollectorRegistry()
    database = open_database(db)
    cache = open_cache(redis, CacheSettings(), registry, clock)
    # The fake provider runs on loopback: allowed explicitly, as a deployment would.
    http = open_http_client(HttpSettings(allow_hosts=["127.0.0.1"]))
    settings = VaultSettings(
        refresh_batch_size=BATCH_SIZE, refresh_concurrency=concurrency, refresh_jitter_s=JITTER_S
    )

    def no_jobs() -> Jobs:
        raise RuntimeError("the bench clients have no webhooks")

    async def forget(_client_pk: int) -> None:
        return None

    refresher = Refresher(
        store=SqlConnections(database, FieldCipher.from_secrets(SECRET), clock),
        providers=ProviderClient(http, 10.0),
        catalog=_catalog(base_url),
        locks=open_locks(redis, database, cache),
        settings=settings,
        clock=clock,
        metrics=VaultMetrics.register(registry),
        events=Events(no_jobs, clock),
        on_change=forget,
    )
    try:
        # Connections made before the clock starts, as in a long-running worker.
        await database.ping()
        assert cache.redis_client is not None
        await cache.redis_client.ping()
        await anyio.to_thread.run_sync(go.wait)
        started_cpu_s = time.process_time()
        while (await refresher.sweep()).due:
            pass
        return time.process_time() - started_cpu_s
    finally:
        await http.aclose()
        await cache.close()
        await database.close()


def _worker(
    db: dict[str, object],
    redis: dict[str, object],
    base_url: str,
    concurrency: int,
    go: Barrier,
    done: Queue[float],
) -> None:
    # As in production: JSON logs, warnings only (a line per refresh would be measured too).
    configure_logging(LogSettings(level="warning", format="json"), Environment.PRODUCTION)
    cpu_s = asyncio.run(
        _sweep_until_done(
            DatabaseSettings.model_validate(db),
            RedisSettings.model_validate(redis),
            base_url,
            concurrency,
            go,
        )
    )
    done.put(cpu_s)


def run_sweep(
    connections: int = 10_000, workers: int = 2, concurrency: int = 32
) -> dict[str, object]:
    """Seed ``connections`` due connections, sweep them with ``workers`` processes, and measure.

    ``seconds`` runs from the moment every worker is connected and ready (process start-up is
    not the refresher's) until the last worker finds nothing due. Raises ``SystemExit`` when
    PostgreSQL or Redis is not configured or not reachable.
    """
    db_url, redis_url = service_urls(SCENARIO)
    schema = f"bench_vault_{secrets.token_hex(3)}"
    db = DatabaseSettings(url=db_url, schema_name=schema, pool_size=concurrency)
    redis = RedisSettings(url=redis_url, key_prefix=f"bench-vault:{schema}:")
    migrate.upgrade(db)
    try:
        seeding = time.perf_counter()
        asyncio.run(_seed(db, connections))
        seed_s = time.perf_counter() - seeding
        context = multiprocessing.get_context("spawn")
        port = free_port()
        provider = context.Process(target=_serve_provider, args=(port,), daemon=True)
        provider.start()
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(base_url)
        try:
            go = context.Barrier(workers + 1)
            done: Queue[float] = context.Queue()
            processes = [
                context.Process(
                    target=_worker,
                    args=(db.model_dump(), _redis_dump(redis), base_url, concurrency, go, done),
                )
                for _ in range(workers)
            ]
            try:
                for process in processes:
                    process.start()
                go.wait(timeout=120)
                started = time.perf_counter()
                cpu_s = _collect(done, processes)
                elapsed_s = time.perf_counter() - started
            finally:
                for process in processes:
                    process.join(timeout=30)
                    if process.is_alive():  # failed or interrupted: none outlives the run
                        process.terminate()
                        process.join()
            counts: dict[str, int] = httpx.get(f"{base_url}/stats").json()
        finally:
            provider.terminate()
            provider.join()
    finally:
        asyncio.run(drop(db_url, [schema]))
    refreshed = len(counts)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    return {
        "scenario": SCENARIO,
        "variant": str(connections),
        "family": SCENARIO,
        "size": connections,
        "size_label": f"{connections:,} due connections",
        "metric": "refreshes_per_s",
        "unit": "refreshes/s",
        "higher_is_better": True,
        "git_sha": git_sha(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "connections": connections,
        "workers": workers,
        "concurrency": concurrency,
        "tuned": tuned(concurrency),
        "refreshed": refreshed,
        "missed": connections - refreshed,
        "duplicates": duplicates,
        # A connection refreshed twice, or not at all, is a wrong answer of the sweep.
        "errors": duplicates + connections - refreshed,
        "seed_s": round(seed_s, 1),
        "seconds": round(elapsed_s, 2),
        "refreshes_per_s": round(refreshed / elapsed_s, 1),
        "worker_cpu_ms_per_refresh": round(1000 * sum(cpu_s) / max(refreshed, 1), 3),
        "why": WHY,
    }


WHY = (
    "each claim takes the next due rows by an index on expiry (SKIP LOCKED), so a refresh costs "
    "the same whatever the number of connections; the rate is per refresh"
)


def _collect(done: Queue[float], processes: Sequence[BaseProcess]) -> list[float]:
    """Each worker's CPU seconds, as they finish; ``SystemExit`` if one dies first."""
    cpu_s: list[float] = []
    while len(cpu_s) < len(processes):
        try:
            cpu_s.append(done.get(timeout=1.0))
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if failed:
                raise SystemExit(f"a sweep worker failed (exit codes {failed})") from None
    return cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.vault_sweep")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="refreshes at once per worker")
    parser.add_argument("--rounds", type=int, default=1, help="report the median of this many")
    args = parser.parse_args()
    runs = [run_sweep(args.connections, args.workers, args.concurrency) for _ in range(args.rounds)]
    result = sorted(runs, key=lambda run: float(str(run["refreshes_per_s"])))[len(runs) // 2]
    result = {**result, "rounds": args.rounds, "round_rates": [r["refreshes_per_s"] for r in runs]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{SCENARIO}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


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


if __name__ == "__main__":
    main()
