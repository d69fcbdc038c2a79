"""What to measure. A capability adds its scenarios here: one entry, no other edits."""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.guard_validate import guard_route_headers, guard_setup


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


BENCH_CLIENTS = {"BENCH_ID": "BENCH_SECRET"}
BENCH_TELCO_AUTH = json.dumps({"client_id": "BENCH_ID", "client_secret": "BENCH_SECRET"})

FLOOR = Scenario("floor", "/health", description="trivial endpoint of the same app: the HTTP floor")

SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        FLOOR,
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
            description="OIDC client_credentials: cached client, HMAC secret, ES256 JWT, no DB "
            "write (credentials filled in by oidc_prepare)",
        ),
        Scenario(
            "oidc_introspect",
            "/introspect",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            target_ratio=0.3,
            description="RFC 7662 introspection of a JWT access token (filled in by oidc_prepare)",
        ),
        Scenario(
            "telco_operator_token",
            "/telcos/bench/api/demo/token?mcc=972&sn=0527464600",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode({"telco_auth": BENCH_TELCO_AUTH, "auth_code": "best_auth_code_123"}),
            connections=1,
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
            description="broker token with a cache miss: the broker's overhead over the operator",
        ),
        Scenario(
            "gateway_tokens",
            "/gateway/tokens",
            headers={"apikey": "tkd_bench_gateway_key_0123456789abcdefghij"},
            target_ratio=0.6,
            description="seed 004 GET /tokens, consumer secret cached (warm): HS256 JWT",
        ),
        Scenario(
            "guard_protected_route",
            "/guard/auth/me",
            headers=guard_route_headers(),
            # An ES256 signature check alone costs about a third of a floor request here.
            target_ratio=0.3,
            description="guard: bearer JWT validated (cached JWKS) and answered in the envelope",
        ),
        Scenario(
            "vault_validate_cached",
            "/vault/tokens/validate/1",
            target_ratio=0.5,
            description="seed 001 validate of the demo connection, answered from the cache",
        ),
    )
}


def server_setup(tmp: Path, port: int) -> dict[str, str]:
    """The bench server's settings: each capability's set-up for its scenarios."""
    return {**broker_setup(tmp, port), **vault_setup(), **gateway_setup(), **guard_setup()}


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
        "TOKEND_TELCO__ID": "bench",
        "TOKEND_TELCO__CLIENTS": json.dumps(BENCH_CLIENTS),
        "TOKEND_TELCO__VALID_CODES": json.dumps(["best_auth_code_123"]),
    }


def vault_setup() -> dict[str, str]:
    """Settings for vault scenarios: the in-process demo provider connects client 1 at start-up;
    the API is opened like the seed's (no bearer) so wrk needs no token."""
    return {"TOKEND_VAULT__DEMO_PROVIDER": "true", "TOKEND_VAULT__OPEN_ACCESS": "true"}


def gateway_setup() -> dict[str, str]:
    """Settings for gateway scenarios: a standalone consumer with the scenario's API key."""
    consumer = {"username": "bench", "api_key": SCENARIOS["gateway_tokens"].headers["apikey"]}
    return {
        "TOKEND_GATEWAY__SOURCE": "local",
        "TOKEND_GATEWAY__CONSUMERS": json.dumps([consumer]),
    }


def oidc_prepare(
    scenarios: list[Scenario], base_url: str, env: Mapping[str, str]
) -> list[Scenario]:
    """The OIDC scenarios with real credentials, like the peer's: a client made with
    ``tokend clients create`` against the running server's database for client_credentials
    (ES256 JWT access tokens), and one with opaque tokens whose token it introspects."""
    if not any(s.name.startswith("oidc_") for s in scenarios):
        return scenarios
    jwt_auth = _bench_client(env, "bench-jwt")
    opaque_auth = _bench_client(env, "bench-opaque", "--opaque")
    opaque_token = httpx.post(
        f"{base_url}/token",
        data={"grant_type": "client_credentials", "scope": "api:read"},
        headers=opaque_auth,
        timeout=10,
    ).json()["access_token"]
    ready = []
    for scenario in scenarios:
        if scenario.name == "oidc_client_credentials":
            scenario = dataclasses.replace(scenario, headers={**scenario.headers, **jwt_auth})
        elif scenario.name == "oidc_introspect":
            scenario = dataclasses.replace(
                scenario,
                headers={**scenario.headers, **opaque_auth},
                body=urlencode({"token": opaque_token}),
            )
        ready.append(scenario)
    return ready


def _bench_client(env: Mapping[str, str], name: str, *options: str) -> dict[str, str]:
    """HTTP Basic credentials of a new client_credentials client."""
    created = subprocess.run(
        [sys.executable, "-m", "tokend", "clients", "create", "--name", name,
         "--grant", "client_credentials", "--scope", "api:read", *options, "--json"],
        env=dict(env), check=True, capture_output=True, text=True,
    )  # fmt: skip
    client = json.loads(created.stdout)
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}
