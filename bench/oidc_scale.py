"""OIDC on PostgreSQL as its data grows: client_credentials and introspection with 10k and 1M
registered clients and as many revoked token ids.

For each size a PostgreSQL schema of its own is migrated and bulk-loaded straight in the
database (COPY: clients cloned from one made with ``tokend clients create``, revoked ``jti``
rows valid for a day), then a production-like ``tokend serve`` (PostgreSQL + Redis, as
deploy/compose.yaml runs it) starts on it. Every size's server runs at once and the sizes
alternate within each round, like the main scenarios.

What a request finds: wrk draws each request from a pool of ``POOL`` clients spread over the
table (and, for introspection, a JWT access token of each, introspected by its own client), so
the first request of each client in a cache lifetime (``oidc.client_cache_ttl_s``,
``oidc.introspection_cache_ttl_s``: shipping defaults) reads PostgreSQL and the others hit the
cache. The same pattern at every size: the rows compare sizes, not cache settings. Next to
them, the database cost itself: µs per client lookup and per revocation check through tokend's
own stores, at each size (cache-free).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from tests.e2e.server import tokend_json

from bench.measure import alternate
from bench.oidc_setup import basic_auth
from bench.process import Running, production_server
from bench.run_log import Row
from bench.scenarios import Scenario
from bench.services import drop, dsn, provider_env, service_urls
from tokend.core.clock import SystemClock
from tokend.core.crypto import SecretHasher
from tokend.core.revocations import Revoked, RevokedKind
from tokend.oidc.sql import SqlClients
from tokend.store.engine import Database, open_database
from tokend.store.revocations import SqlRevocations
from tokend.store.settings import DatabaseSettings

FAMILY = "oidc_scale"
#: Registered clients (and revoked ids) per size.
SIZES = (10_000, 1_000_000)
SMOKE_SIZES = (100, 1_000)
#: Clients wrk's requests are drawn from (each with a token for introspection).
POOL = 1_000
SMOKE_POOL = 20
#: Cache-free lookups timed per size and kind.
LOOKUPS = 2_000
SMOKE_LOOKUPS = 100
COPY_CHUNK = 50_000
FORM = "application/x-www-form-urlencoded"

WHY = {
    "client_credentials": "a client is read by primary key (a B-tree: O(log n) pages) on a cache "
    "miss; the signature and the rest do not depend on the table's size",
    "introspect": "a JWT's jti and grant are looked up in revocations by primary key "
    "(O(log n)) on a cache miss",
    "client_lookup": "SqlClients.get: one primary-key read, O(log n)",
    "revocation_check": "SqlRevocations.revoked: one primary-key probe per entry, O(log n)",
}


@dataclass(slots=True)
class Loaded:
    """What a size's preparation made: the pool's credentials and how long loading took."""

    size: int
    schema: str
    pool: list[tuple[str, str]] = field(default_factory=list)  # (client_id, secret)
    load_s: float = 0.0


def measure(
    *, smoke: bool, server: str, duration_s: float, rounds: int, connections: int
) -> list[Row]:
    """A row per size and scenario, and per size and store lookup."""
    db_url, redis_url = service_urls(FAMILY)
    sizes, pool = (SMOKE_SIZES, SMOKE_POOL) if smoke else (SIZES, POOL)
    run_id = secrets.token_hex(3)
    loaded = [Loaded(size, f"bench_oidc_{run_id}_{size}") for size in sizes]
    try:
        with ExitStack() as stack:
            servers = [
                stack.enter_context(_serving(item, db_url, redis_url, run_id, server, pool))
                for item in loaded
            ]
            plan = []
            for item, running in zip(loaded, servers, strict=True):
                for scenario in _scenarios(item, running):
                    plan.append((running.base_url, scenario))
            results = alternate(plan, duration_s, rounds, connections, smoke=smoke)
        lookups = asyncio.run(_time_lookups(db_url, loaded, SMOKE_LOOKUPS if smoke else LOOKUPS))
    finally:
        schemas = [item.schema for item in loaded]
        asyncio.run(drop(db_url, schemas, redis_url, f"bench-oidc:{run_id}:*"))
    rows: list[Row] = []
    for item, timings in zip(loaded, lookups, strict=True):
        label = _label(item.size)
        for kind in ("client_credentials", "introspect"):
            result = results[f"{FAMILY}.{kind}@{item.size}"]
            rows.append(
                {
                    "scenario": f"{FAMILY}.{kind}",
                    "variant": str(item.size),
                    "family": FAMILY,
                    "size": item.size,
                    "size_label": label,
                    "metric": "rps",
                    "unit": "requests/s",
                    "higher_is_better": True,
                    "rps": round(result.rps, 1),
                    "p50_ms": round(result.p50_ms, 3),
                    "p99_ms": round(result.p99_ms, 3),
                    "errors": result.errors,
                    "error_kinds": dict(result.error_kinds),
                    "requests": result.requests,
                    "pool_clients": len(item.pool),
                    "bulk_load_s": round(item.load_s, 1),
                    "why": WHY[kind],
                    "settings": "PostgreSQL + Redis, shipping cache TTLs",
                }
            )
        for kind, micros in timings.items():
            rows.append(
                {
                    "scenario": f"{FAMILY}.{kind}",
                    "variant": str(item.size),
                    "family": FAMILY,
                    "size": item.size,
                    "size_label": label,
                    "metric": "us",
                    "unit": "µs per call",
                    "higher_is_better": False,
                    "us": round(micros, 1),
                    "errors": 0,
                    "why": WHY[kind],
                }
            )
    return rows


def _label(size: int) -> str:
    return f"{_short(size)} clients, {_short(size)} revoked ids"


def _short(n: int) -> str:
    for unit, step in (("M", 1_000_000), ("k", 1_000)):
        if n >= step and n % step == 0:
            return f"{n // step}{unit}"
    return str(n)


@contextmanager
def _serving(
    item: Loaded, db_url: str, redis_url: str, run_id: str, server: str, pool: int
) -> Iterator[Running]:
    overrides = provider_env(
        server, db_url, item.schema, redis_url, f"bench-oidc:{run_id}:{item.size}:"
    )

    def prepare(env: dict[str, str]) -> None:
        started = time.perf_counter()
        asyncio.run(_load(env, item, pool))
        item.load_s = time.perf_counter() - started
        print(f"{FAMILY}: {_label(item.size)} loaded in {item.load_s:.1f} s", flush=True)

    with production_server(["--only", "oidc"], overrides, prepare=prepare) as running:
        yield running


def _scenarios(item: Loaded, running: Running) -> list[Scenario]:
    """client_credentials and introspection, each request drawn from the size's pool."""
    auths = [basic_auth(cid, secret)["Authorization"] for cid, secret in item.pool]
    tokens = _mint(running.base_url, auths)
    body = "grant_type=client_credentials&scope=api%3Aread"
    credentials = _pooled(
        f"{FAMILY}.client_credentials@{item.size}",
        "/token",
        [(auth, body) for auth in auths],
    )
    introspect = _pooled(
        f"{FAMILY}.introspect@{item.size}",
        "/introspect",
        [(auth, f"token={token}") for auth, token in zip(auths, tokens, strict=True)],
    )
    return [credentials, introspect]


def _pooled(name: str, path: str, requests: Sequence[tuple[str, str]]) -> Scenario:
    """POSTs of ``(Authorization, body)`` pairs, wrk drawing one at random per request; the
    requests are formatted once per wrk thread (``init``), not per request."""
    pairs = ",\n".join(f"{{{_lua(auth)}, {_lua(body)}}}" for auth, body in requests)
    setup = (
        f"pairs_ = {{\n{pairs}\n}}\n"
        "function init(args)\n"
        "  prepared = {}\n"
        "  for i, pair in ipairs(pairs_) do\n"
        f'    local headers = {{["Authorization"] = pair[1], ["Content-Type"] = "{FORM}"}}\n'
        '    prepared[i] = wrk.format("POST", nil, headers, pair[2])\n'
        "  end\n"
        "end"
    )
    return Scenario(
        name,
        path,
        method="POST",
        lua_setup=setup,
        lua_request="return prepared[math.random(#prepared)]",
        family=FAMILY,
    )


def _lua(text: str) -> str:
    # Basic credentials, JWTs and form bodies are ASCII without quotes or backslashes.
    if any(c in text for c in '"\\\n'):
        raise ValueError("not a plain Lua string")
    return f'"{text}"'


def _mint(base_url: str, auths: Sequence[str]) -> list[str]:
    """One JWT access token per pool client, from the running server."""
    tokens = []
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for auth in auths:
            response = http.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "api:read"},
                headers={"Authorization": auth},
            )
            response.raise_for_status()
            tokens.append(str(response.json()["access_token"]))
    return tokens


async def _load(env: Mapping[str, str], item: Loaded, pool: int) -> None:
    """``item.size`` clients (``pool`` of them with known secrets, spread over the table) and as
    many revoked jti rows, copied straight into the size's schema."""
    template = tokend_json(dict(env), "clients", "create", "--name", "bench-scale",
                           "--grant", "client_credentials", "--scope", "api:read")  # fmt: skip
    hasher = SecretHasher.from_secrets(env["TOKEND_SECRET_KEY"])
    step = max(1, item.size // pool)
    chosen = set(range(0, item.size, step)[:pool])
    conn = await asyncpg.connect(dsn(env["TOKEND_DATABASE__URL"]))
    try:
        row = await conn.fetchrow(
            f'SELECT * FROM "{item.schema}".oidc_clients WHERE client_id = $1',  # noqa: S608
            template["client_id"],
        )
        assert row is not None
        columns = list(row.keys())
        at_id, at_hash = columns.index("client_id"), columns.index("secret_hash")
        base = list(row.values())

        def clients() -> Iterator[tuple[object, ...]]:
            for i in range(item.size - 1):  # the template is one of the size's clients
                values = list(base)
                values[at_id] = f"bench-{i:08d}"
                if i in chosen:
                    secret = secrets.token_urlsafe(24)
                    item.pool.append((values[at_id], secret))
                    values[at_hash] = hasher.hash(secret)
                yield tuple(values)

        await _copy(conn, item.schema, "oidc_clients", columns, clients())
        expires = datetime.now(UTC) + timedelta(days=1)
        revoked = (("jti", secrets.token_hex(16), expires) for _ in range(item.size))
        await _copy(conn, item.schema, "revocations", ["kind", "value", "expires_at"], revoked)
        await conn.execute(f'ANALYZE "{item.schema}".oidc_clients')
        await conn.execute(f'ANALYZE "{item.schema}".revocations')
    finally:
        await conn.close()


async def _copy(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: Sequence[str],
    records: Iterator[tuple[object, ...]],
) -> None:
    async def chunks() -> AsyncIterator[tuple[object, ...]]:
        for record in records:
            yield record

    await conn.copy_records_to_table(
        table, records=chunks(), columns=list(columns), schema_name=schema
    )


#: Timed lookups alternate between the sizes in this many rounds, after a few untimed ones.
LOOKUP_ROUNDS = 3
WARM_UP_LOOKUPS = 20


async def _time_lookups(
    db_url: str, loaded: Sequence[Loaded], count: int
) -> list[dict[str, float]]:
    """Per size: median µs of a client lookup and of a revocation check (of a jti that is not
    revoked, as most introspected tokens' are) through tokend's stores, sizes alternating."""
    databases = [
        open_database(DatabaseSettings(url=db_url, schema_name=item.schema)) for item in loaded
    ]
    timings: list[dict[str, list[float]]] = [
        {"client_lookup": [], "revocation_check": []} for _ in loaded
    ]
    now = datetime.now(UTC)
    try:
        for item, database in zip(loaded, databases, strict=True):
            await _lookups(item, database, WARM_UP_LOOKUPS, now)  # connections, statements
        for _ in range(LOOKUP_ROUNDS):
            for item, database, found in zip(loaded, databases, timings, strict=True):
                lookups = await _lookups(item, database, max(1, count // LOOKUP_ROUNDS), now)
                for kind, micros in lookups.items():
                    found[kind].extend(micros)
    finally:
        for database in databases:
            await database.close()
    return [{kind: statistics.median(micros) for kind, micros in t.items()} for t in timings]


async def _lookups(
    item: Loaded, database: Database, count: int, now: datetime
) -> dict[str, list[float]]:
    clients, revocations = SqlClients(database, SystemClock()), SqlRevocations(database)
    rng = random.Random()
    client_us, check_us = [], []
    for _ in range(count):
        client_id = f"bench-{rng.randrange(item.size - 1):08d}"
        started = time.perf_counter()
        found = await clients.get(client_id)
        client_us.append((time.perf_counter() - started) * 1e6)
        if found is None:
            raise SystemExit(f"{FAMILY}: client {client_id} not found after loading")
        probe = [Revoked(RevokedKind.JTI, secrets.token_hex(16))]
        started = time.perf_counter()
        await revocations.revoked(probe, now)
        check_us.append((time.perf_counter() - started) * 1e6)
    return {"client_lookup": client_us, "revocation_check": check_us}
