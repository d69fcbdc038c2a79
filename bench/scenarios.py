"""What to measure. A capability adds its scenarios here: one entry, no other edits."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bench.guard_validate import guard_route_headers, guard_setup
from tokend.core.crypto import sha256_b64url


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
    #: Called before each wrk run for a fresh copy (e.g. refresh tokens not yet rotated).
    renew: Callable[[], Scenario] | None = None
    #: Paced: the same requests as scenario ``pace_of`` at a fixed rate, ``rate_rps`` or
    #: ``rate_of_max`` times the rps ``pace_of`` reached in the same run, to read p99 at that load.
    pace_of: str | None = None
    rate_rps: float | None = None
    rate_of_max: float | None = None
    target_p99_ms: float | None = None
    #: Milliseconds wrk waits before each request of a connection (set when pacing).
    delay_ms: int | None = None


BENCH_CLIENTS = {"BENCH_ID": "BENCH_SECRET"}
BENCH_TELCO_AUTH = json.dumps({"client_id": "BENCH_ID", "client_secret": "BENCH_SECRET"})

FLOOR = Scenario("floor", "/health", description="trivial endpoint of the same app: the HTTP floor")
GATEWAY_TOKENS = Scenario(
    "gateway_tokens",
    "/gateway/tokens",
    headers={"apikey": "tkd_bench_gateway_key_0123456789abcdefghij"},
    target_ratio=0.6,
    description="seed 004 GET /tokens, consumer secret cached (warm): HS256 JWT",
)
VAULT_VALIDATE = Scenario(
    "vault_validate_cached",
    "/vault/tokens/validate/1",
    target_ratio=0.5,
    description="seed 001 validate of a stored connection, answered from the cache",
)


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
        rate_rps=rate_rps,
        rate_of_max=rate_of_max,
        target_p99_ms=target_p99_ms,
        description=f"{base.name} at a fixed rate: p99 under a steady, not saturating, load",
    )


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
            "oidc_refresh",
            "/token",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            # Each answer's rotated refresh token goes back in the pool: every request uses a
            # token once, as a client does (credentials and pool filled in by oidc_prepare).
            lua_request=(
                "local token = table.remove(pool)\n"
                'return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" '
                '.. (token or "none-left"))'
            ),
            lua_response=(
                'local token = string.match(body, \'"refresh_token":"([^"]+)"\')\n'
                "if token then table.insert(pool, 1, token) end"
            ),
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
        # The operator is this server, on loopback: allowed for the bench only.
        "TOKEND_BROKER__ALLOWED_UPSTREAM_HOSTS": '["127.0.0.1"]',
        "TOKEND_TELCO__ID": "bench",
        "TOKEND_TELCO__CLIENTS": json.dumps(BENCH_CLIENTS),
        "TOKEND_TELCO__VALID_CODES": json.dumps(["best_auth_code_123"]),
    }


def vault_setup() -> dict[str, str]:
    """Settings for vault scenarios: the API is opened like the seed's (no bearer) so wrk needs
    no token; the connection they read is stored before start-up (bench.vault_seed)."""
    return {"TOKEND_VAULT__OPEN_ACCESS": "true"}


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
        elif scenario.name == "oidc_refresh":
            scenario = _refresh_scenario(scenario, base_url, env)
        ready.append(scenario)
    return ready


#: Refresh tokens minted per wrk run: twice the connections a run may use, so that the pool
#: never runs dry while every connection has one request in flight.
REFRESH_POOL = 128
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _refresh_scenario(scenario: Scenario, base_url: str, env: Mapping[str, str]) -> Scenario:
    """oidc_refresh with a web client and a user made with the CLI, and a fresh pool of refresh
    tokens for every run, minted through the real flow: one sign-in and consent, then
    /authorize answered from the session and remembered consent, and a code exchange each."""
    redirect = "http://127.0.0.1:9/cb"
    client = _cli_json(env, "clients", "create", "--name", "bench-web",
                       "--grant", "authorization_code", "--grant", "refresh_token",
                       "--redirect-uri", redirect, "--scope", "openid offline_access")  # fmt: skip
    password = secrets.token_urlsafe(16)
    _cli_json(env, "users", "create", "--email", "bench@example.org", "--password", password,
              "--verified")  # fmt: skip
    auth = _basic(client["client_id"], client["client_secret"])
    http = httpx.Client(base_url=base_url, timeout=10)
    # The bench issuer is https, so the session cookie is Secure and httpx would not send it over
    # plain http: the cookie is carried by hand.
    session: dict[str, str] = {}

    def get_or_post(
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in session.items())
        headers = {"Cookie": cookie}
        response = http.request(method, url, headers=headers, params=params, data=data)
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            session[name.strip()] = rest.split(";", 1)[0]
        return response

    def code() -> str:
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": redirect,
            "scope": "openid offline_access", "state": secrets.token_urlsafe(8),
            "code_challenge": sha256_b64url(verifier), "code_challenge_method": "S256",
        }  # fmt: skip
        location = get_or_post("GET", "/authorize", params=params).headers["location"]
        while location.startswith("/interaction/"):
            page = get_or_post("GET", location)
            match = _CSRF.search(page.text)
            if match is None:
                raise SystemExit(f"oidc_refresh set-up: no form at {location}")
            form = {"csrf_token": match.group(1)}
            if "Sign in" in page.text:
                step = "login"
                form |= {"email": "bench@example.org", "password": password}
            else:
                step = "consent"
                form |= {"decision": "allow"}
            uid = location.rstrip("/").rsplit("/", 1)[1]
            location = get_or_post("POST", f"/interaction/{uid}/{step}", data=form).headers[
                "location"
            ]
        tokens = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": parse_qs(urlsplit(location).query)["code"][0],
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            headers=auth,
        )
        tokens.raise_for_status()
        return str(tokens.json()["refresh_token"])

    def renew() -> Scenario:
        pool = ", ".join(json.dumps(code()) for _ in range(REFRESH_POOL))
        return dataclasses.replace(ready, lua_setup=f"pool = {{{pool}}}")

    ready = dataclasses.replace(scenario, headers={**scenario.headers, **auth}, renew=renew)
    return renew()


def _bench_client(env: Mapping[str, str], name: str, *options: str) -> dict[str, str]:
    """HTTP Basic credentials of a new client_credentials client."""
    created = subprocess.run(
        [sys.executable, "-m", "tokend", "clients", "create", "--name", name,
         "--grant", "client_credentials", "--scope", "api:read", *options, "--json"],
        env=dict(env), check=True, capture_output=True, text=True,
    )  # fmt: skip
    client = json.loads(created.stdout)
    return _basic(client["client_id"], client["client_secret"])


def _basic(client_id: str, secret: str) -> dict[str, str]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


def _cli_json(env: Mapping[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tokend", *args, "--json"],
        env=dict(env), check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result
