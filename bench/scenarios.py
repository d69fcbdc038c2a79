"""What to measure. A capability adds its scenarios here: one entry, no other edits."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from bench.guard_validate import guard_route_headers, guard_setup
from bench.raw_asgi import RAW_CLIENT_ID, RAW_CLIENT_SECRET

#: Which process of the run serves a scenario: the all-in-one ``tokend serve``, a gateway-only
#: ``tokend serve --only gateway`` (the gateway's production role), the raw ASGI app of
#: ``bench.raw_asgi`` on the same HTTP server, an all-in-one ``tokend serve --workers
#: WORKERS`` (how a process scales with workers), or ``tokend serve --only oidc`` on PostgreSQL
#: and Redis (the provider as deploy/compose.yaml runs it), or ``tokend serve --demo`` (what
#: ``make run`` starts: development settings, console logs).
Process = Literal["all-in-one", "gateway", "raw", "workers", "postgres", "demo"]
#: The workers of the ``workers`` process, compared with the all-in-one process's one.
WORKERS = 2
#: Issue 18's target for ``WORKERS`` workers over one.
WORKERS_TARGET = 1.6


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    #: The ratio to the floor this scenario should reach (None: no target).
    target_ratio: float | None = None
    description: str = ""
    #: Body of a Lua ``request()`` returning each request (wrk.format), for requests that
    #: must differ from one another; None: the same request every time.
    lua_request: str | None = None
    #: Connections for this scenario (None: the run's); 1 measures latency, not throughput.
    connections: int | None = None
    #: A scenario whose p50 this one's is compared with: ``overhead_p50_ms`` in the results.
    baseline: str | None = None
    target_overhead_ms: float | None = None
    #: Lua run once before ``request()`` (e.g. a pool of refresh tokens).
    lua_setup: str | None = None
    #: Body of a Lua ``response(status, headers, body)`` (e.g. keep the rotated refresh token).
    lua_response: str | None = None
    #: Called before each wrk run, with its seconds, for a fresh copy (e.g. refresh tokens not
    #: yet rotated, or enough single-use client assertions for that long).
    renew: Callable[[float], Scenario] | None = None
    #: Paced: the same requests as scenario ``pace_of`` at a fixed rate, ``rate_rps`` or
    #: ``rate_of_max`` times the rps ``pace_of`` reached in the same run, to read p99 at that load.
    pace_of: str | None = None
    rate_rps: float | None = None
    rate_of_max: float | None = None
    target_p99_ms: float | None = None
    #: Milliseconds wrk waits before each request of a connection (set when pacing).
    delay_ms: int | None = None
    process: Process = "all-in-one"
    #: The chart and table group it is drawn in (bench.charts).
    family: str = "capabilities"
    #: The all-in-one scenario this one repeats on another process (its set-up is shared and
    #: its rate is compared with that one's).
    variant_of: str | None = None


BENCH_CLIENTS = {"BENCH_ID": "BENCH_SECRET"}
BENCH_TELCO_AUTH = json.dumps({"client_id": "BENCH_ID", "client_secret": "BENCH_SECRET"})

#: The vault API's bearer token in the bench (the vault's shipping default asks for one).
BENCH_VAULT_TOKEN = "bench-vault-api-token-0123456789abcdef"  # noqa: S105  (throw-away)
#: The admin API's token in the bench: the private_key_jwt client is registered through it.
BENCH_ADMIN_TOKEN = "bench-admin-api-token-0123456789abcdef"  # noqa: S105  (throw-away)

FLOOR = Scenario("floor", "/health", description="trivial endpoint of the same app: the HTTP floor")
RAW_PING = Scenario(
    "raw_asgi_ping",
    "/health",
    process="raw",
    description="a bare ASGI app answering /health on the same HTTP server and settings: what "
    "the server alone costs (bench.raw_asgi)",
)
RAW_CLIENT_CREDENTIALS = Scenario(
    "raw_asgi_client_credentials",
    "/token",
    method="POST",
    headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic "
        + base64.b64encode(f"{RAW_CLIENT_ID}:{RAW_CLIENT_SECRET}".encode()).decode("ascii"),
    },
    body="grant_type=client_credentials&scope=api%3Aread",
    process="raw",
    family="oidc",
    description="the client_credentials grant in bench.raw_asgi's bare app on the same server "
    "(HTTP Basic, HMAC secret, form, ES256 JWT with cryptography, JSON; no request id, metrics, "
    "log, rate limit or client store): the ceiling of a Python handler for it here",
)
#: A reference's tokend scenario: ``ceiling_reached`` is that scenario's rps over the
#: reference's, and the reference is compared with the peer's counterpart of that scenario.
CEILING_OF: Mapping[str, str] = {RAW_CLIENT_CREDENTIALS.name: "oidc_client_credentials"}
GATEWAY_FLOOR = Scenario(
    "gateway_floor",
    "/health",
    process="gateway",
    family="gateway",
    description="the gateway-only process's own /health: the floor its rows are compared with",
)
GATEWAY_TOKENS = Scenario(
    "gateway_tokens",
    "/tokens",
    headers={"apikey": "tkd_bench_gateway_key_0123456789abcdefghij"},
    target_ratio=0.6,
    process="gateway",
    family="gateway",
    description="seed 004 GET /tokens on `tokend serve --only gateway`, consumer secret cached "
    "(warm): HS256 JWT",
)
VAULT_VALIDATE = Scenario(
    "vault_validate_cached",
    "/vault/tokens/validate/1",
    headers={"Authorization": f"Bearer {BENCH_VAULT_TOKEN}"},
    target_ratio=0.5,
    description="seed 001 validate of a stored connection (API token checked), answered from "
    "the cache",
)
#: Each process's floor: its rows' ``x floor`` is their rps over this scenario's, in the same run.
FLOORS: Mapping[Process, str] = {
    "all-in-one": "floor",
    "gateway": "gateway_floor",
    "raw": "floor",
    "workers": f"floor_{WORKERS}_workers",
    "postgres": "floor",
    "demo": "floor",
}


def paced(
    base: Scenario,
    *,
    rate_rps: float | None = None,
    rate_of_max: float | None = None,
    target_p99_ms: float,
) -> Scenario:
    """``base``'s requests at a fixed rate, named ``<base>_paced``."""
    return dataclasses.replace(
        base,
        name=f"{base.name}_paced",
        target_ratio=None,
        pace_of=base.name,
        family="paced",
        rate_rps=rate_rps,
        rate_of_max=rate_of_max,
        target_p99_ms=target_p99_ms,
        description=f"{base.name} at a fixed rate: p99 under a steady, not saturating, load",
    )


SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        FLOOR,
        RAW_PING,
        RAW_CLIENT_CREDENTIALS,
        Scenario(
            "jwks",
            "/.well-known/jwks.json",
            target_ratio=0.8,
            description="JWKS document served from memory",
        ),
        Scenario(
            "broker_token_cached",
            "/broker/api/demo/token?mcc=972&sn=0527464600",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="auth_code=best_auth_code_123",
            target_ratio=0.5,
            description="seed 000 broker token, second and later requests served from the cache",
        ),
        Scenario(
            "oidc_client_credentials",
            "/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="grant_type=client_credentials&scope=api%3Aread",
            target_ratio=0.3,
            family="oidc",
            description="OIDC client_credentials: cached client, HMAC secret, ES256 JWT, no DB "
            "write (credentials filled in by bench.oidc_setup)",
        ),
        Scenario(
            "oidc_client_credentials_private_key_jwt",
            "/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="grant_type=client_credentials&scope=api%3Aread",
            family="oidc",
            description="OIDC client_credentials with private_key_jwt: a fresh ES256 client "
            "assertion per request (signature, aud, exp, jti remembered), ES256 JWT; the "
            "assertions are signed before the run (bench.client_proofs)",
        ),
        Scenario(
            "oidc_client_credentials_dpop",
            "/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="grant_type=client_credentials&scope=api%3Aread",
            family="oidc",
            description="the same with a fresh ES256 DPoP proof per request too (RFC 9449: "
            "signature, htm/htu, iat, jti remembered), a DPoP-bound JWT (cnf.jkt)",
        ),
        Scenario(
            "oidc_introspect",
            "/introspect",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            target_ratio=0.3,
            family="oidc",
            description="RFC 7662 introspection of an opaque access token (filled in by "
            "bench.oidc_setup)",
        ),
        Scenario(
            "oidc_refresh",
            "/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            # Each answer's rotated refresh token goes back in the pool: every request uses a
            # token once, as a client does (credentials and pool filled in by bench.oidc_setup).
            lua_request=(
                "local token = table.remove(pool)\n"
                'return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" '
                '.. (token or "none-left"))'
            ),
            lua_response=(
                'local token = string.match(body, \'"refresh_token":"([^"]+)"\')\n'
                "if token then table.insert(pool, 1, token) end"
            ),
            family="oidc",
            description="OIDC refresh_token grant: rotation written to the database (SQLite), "
            "a new access and ID token per request",
        ),
        Scenario(
            "telco_operator_token",
            "/telcos/bench/api/demo/token?mcc=972&sn=0527464600",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode({"telco_auth": BENCH_TELCO_AUTH, "auth_code": "best_auth_code_123"}),
            connections=1,
            family="broker_miss",
            description="the operator's own token endpoint, called directly: the miss baseline",
        ),
        Scenario(
            "broker_token_miss",
            "/broker/api/demo/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body="auth_code=best_auth_code_123",
            # A new subscriber number per request: no cache hit, every request goes upstream.
            lua_request=(
                "counter = counter + 1\n"
                'local sn = string.format("05%04d%06d", base, counter % 1000000)\n'
                'return wrk.format(nil, "/broker/api/demo/token?mcc=972&sn=" .. sn)'
            ),
            connections=1,
            baseline="telco_operator_token",
            target_overhead_ms=2.0,
            family="broker_miss",
            description="broker token with a cache miss: the broker's overhead over the operator",
        ),
        GATEWAY_FLOOR,
        GATEWAY_TOKENS,
        paced(GATEWAY_TOKENS, rate_of_max=0.5, target_p99_ms=10.0),
        Scenario(
            "guard_protected_route",
            "/guard/auth/me",
            headers=guard_route_headers(),
            # An ES256 signature check alone costs about a third of a floor request here.
            target_ratio=0.3,
            description="guard: bearer JWT validated (cached JWKS) and answered in the envelope",
        ),
        VAULT_VALIDATE,
        paced(VAULT_VALIDATE, rate_rps=1000.0, target_p99_ms=5.0),
    )
}


def variant(
    base: Scenario, process: Process, suffix: str, server: str, family: str | None = None
) -> Scenario:
    """``base`` repeated on another process, named ``<base>_<suffix>``: set up as ``base`` is
    and compared with it, with no target of its own (drawn with ``base`` unless ``family``)."""
    return dataclasses.replace(
        base,
        name=f"{base.name}_{suffix}",
        process=process,
        target_ratio=None,
        variant_of=base.name,
        description=f"{base.name} on {server}",
        family=family or base.family,
    )


def on_workers(base: Scenario) -> Scenario:
    """``base`` on the ``WORKERS``-worker process."""
    server = f"tokend serve --workers {WORKERS}"
    return variant(base, "workers", f"{WORKERS}_workers", server, family="workers")


def on_postgres(base: Scenario) -> Scenario:
    """``base`` on the PostgreSQL + Redis provider process."""
    server = "tokend serve --only oidc with PostgreSQL and Redis (deploy/compose.yaml's provider)"
    return variant(base, "postgres", "postgres", server)


def on_demo(base: Scenario) -> Scenario:
    """``base`` on ``tokend serve --demo``."""
    server = (
        "tokend serve --demo (make run's server: development settings, demo data, console logs)"
    )
    return variant(base, "demo", "demo", server)


SCENARIOS = {
    **SCENARIOS,
    **{
        s.name: s
        for s in (
            on_workers(SCENARIOS["floor"]),
            on_workers(SCENARIOS["oidc_client_credentials"]),
            on_postgres(SCENARIOS["oidc_refresh"]),
            on_demo(SCENARIOS["oidc_client_credentials"]),
            on_demo(SCENARIOS["oidc_introspect"]),
        )
    },
}


def server_setup(tmp: Path, port: int) -> dict[str, str]:
    """The bench server's settings: each capability's set-up for its scenarios. The broker's
    operator and the vault's demo provider run in the server itself, called over loopback,
    which the outbound policy allows only when told to."""
    return {
        "TOKEND_HTTP__ALLOW_HOSTS": f"127.0.0.1:{port}",
        "TOKEND_ADMIN_TOKEN": BENCH_ADMIN_TOKEN,
        **broker_setup(tmp, port),
        **vault_setup(),
        **gateway_setup(),
        **guard_setup(),
    }


def broker_setup(tmp: Path, port: int) -> dict[str, str]:
    """Settings for broker scenarios: an operator in the same server and a directory to it."""
    directory = tmp / "telco.yaml"
    directory.write_text(
        "prefixes:\n  97205:\n    operator_id: bench\n"
        f"    base_url: http://127.0.0.1:{port}/telcos/bench\n"
        "    client_id: BENCH_ID\n    client_secret: BENCH_SECRET\n",
        encoding="utf-8",
    )
    return {
        "TOKEND_BROKER__DIRECTORY_FILE": str(directory),
        # The operator is this server, on loopback: allowed for the bench only.
        "TOKEND_TELCO__ID": "bench",
        "TOKEND_TELCO__CLIENTS": json.dumps(BENCH_CLIENTS),
        "TOKEND_TELCO__VALID_CODES": json.dumps(["best_auth_code_123"]),
    }


def vault_setup() -> dict[str, str]:
    """Settings for vault scenarios: the API token wrk sends (the shipping default is an API
    that asks for one); the connection they read is stored before start-up (bench.vault_seed)."""
    return {"TOKEND_VAULT__API_TOKEN": BENCH_VAULT_TOKEN}


def gateway_setup() -> dict[str, str]:
    """Settings for gateway scenarios: a standalone consumer with the scenario's API key."""
    consumer = {"username": "bench", "api_key": SCENARIOS["gateway_tokens"].headers["apikey"]}
    return {
        "TOKEND_GATEWAY__SOURCE": "local",
        "TOKEND_GATEWAY__CONSUMERS": json.dumps([consumer]),
    }
