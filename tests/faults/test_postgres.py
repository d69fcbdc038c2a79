"""Fault injection: PostgreSQL stopped under traffic, then restarted.

Two kinds of traffic at once: calls served from memory (the JWKS, a cached broker token) and
calls that need PostgreSQL on every request: a refresh-token rotation (a write), introspection
of an opaque access token and a vault validate, both with their caches off
(``oidc.introspection_cache_ttl_s`` and ``vault.cache_ttl_s`` at 0) so that each one is a cache
miss and reads the database. The row records what each kind got before, while the database was
down and after it came back, and the test checks that memory-served calls never noticed, that
calls needing the database got an answer (never a hang or a dropped connection) and no 200
while it was down, and that everything answered 200 again once it was back, without a restart.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN_TOKEN,
    PASSWORD,
    REDIRECT,
    code_params,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.components import PostgresCluster
from tests.e2e.server import TOKEND
from tests.faults.conftest import (
    Call,
    FaultRow,
    Outcome,
    Traffic,
    broker_token,
    demo_env,
    jwks,
    pg_key_rows,
    readiness,
    record,
    serve,
    until,
)
from tests.secrets_seen import SecretsSeen

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Refresh tokens the traffic holds: more than its workers, so each has one to send.
REFRESH_TOKENS = 8
MEMORY_KINDS = ("jwks", "broker_token")
DATABASE_KINDS = ("refresh", "introspect", "vault_validate")


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


@dataclass
class RefreshTokens:
    """The refresh tokens a client holds: a call takes one; a 200 gives back its rotated
    successor, any other answer the same token (it was not rotated: the client retries it)."""

    auth: dict[str, str]
    tokens: deque[str] = field(default_factory=deque)
    secrets_seen: SecretsSeen | None = None

    def call(self, _: int) -> Call:
        token = self.tokens.popleft()

        def keep(response: httpx.Response | None) -> None:
            if response is not None and response.status_code == 200:
                rotated = str(response.json()["refresh_token"])
                if self.secrets_seen is not None:
                    self.secrets_seen.add(rotated)
                self.tokens.append(rotated)
            else:
                self.tokens.append(token)

        form = {"grant_type": "refresh_token", "refresh_token": token}
        return Call("POST", "/token", data=form, headers=self.auth, kind="refresh", on_answer=keep)


async def new_client(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen, **fields: object
) -> dict[str, str]:
    response = await http.post("/admin/clients", json={"name": "faults", **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    secrets_seen.add(created["client_secret"])
    return basic(created["client_id"], created["client_secret"]) | {
        "client_id": created["client_id"]
    }


async def refresh_tokens(http: httpx.AsyncClient, secrets_seen: SecretsSeen) -> RefreshTokens:
    """A web client and a user, signed in once; a grant (code exchange) per refresh token."""
    client = await new_client(
        http,
        secrets_seen,
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        scope="openid profile email offline_access",
    )
    client_id = client.pop("client_id")
    email = "faults@example.org"
    user = {"email": email, "password": PASSWORD, "email_verified": True}
    assert (await http.post("/admin/users", json=user, headers=ADMIN)).status_code == 201
    held = RefreshTokens(client, secrets_seen=secrets_seen)
    for n in range(REFRESH_TOKENS):
        verifier, challenge = pkce_pair()
        params = code_params(client_id, challenge)
        if n == 0:
            query = await sign_in_and_consent(http, params, email)
        else:  # signed in and consented: /authorize answers with the code at once
            answer = await http.get("/authorize", params=params)
            assert answer.status_code == 303, answer.text
            query = query_of(answer.headers["location"])
        exchange = {"grant_type": "authorization_code", "code": query["code"],
                    "redirect_uri": REDIRECT, "code_verifier": verifier}  # fmt: skip
        tokens = await http.post("/token", data=exchange, headers=client)
        assert tokens.status_code == 200, tokens.text
        held.tokens.append(secrets_seen.add(str(tokens.json()["refresh_token"])))
    return held


async def opaque_introspection(http: httpx.AsyncClient, secrets_seen: SecretsSeen) -> Call:
    """Introspection of an opaque access token by its own client."""
    client = await new_client(
        http,
        secrets_seen,
        grant_types=["client_credentials"],
        scope="api:read",
        access_token_format="opaque",
    )
    client.pop("client_id")
    issued = await http.post(
        "/token", data={"grant_type": "client_credentials", "scope": "api:read"}, headers=client
    )
    assert issued.status_code == 200, issued.text
    token = secrets_seen.add(str(issued.json()["access_token"]))
    return Call("POST", "/introspect", data={"token": token}, headers=client, kind="introspect")


def vault_validate(_: int) -> Call:
    """The demo client's connection (client 1, connected at start-up): validate, cache off."""
    return Call("GET", "/vault/tokens/validate/1", kind="vault_validate")


def kind_of(call: Call, kind: str) -> Call:
    return Call(call.method, call.path, call.data, call.json, call.headers, kind, call.on_answer)


async def test_postgres_stopped_and_restarted(
    cluster: PostgresCluster, tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    env = demo_env(
        TOKEND_DATABASE__URL=cluster.url,
        TOKEND_MODULES="oidc,broker,telco,vault",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        # Every introspection and vault validate misses its cache and reads PostgreSQL.
        TOKEND_OIDC__INTROSPECTION_CACHE_TTL_S="0",
        TOKEND_VAULT__CACHE_TTL_S="0",
    )
    secrets_seen.add(ADMIN_TOKEN)
    # No `tokend migrate`: the demo migrates (and marks) the database it creates.
    server = await serve(env, tmp_path / "serve.log", secrets_seen)
    before = await pg_key_rows(cluster)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            held = await refresh_tokens(client, secrets_seen)
            introspect = await opaque_introspection(client, secrets_seen)
            calls = [
                lambda n: kind_of(jwks(n), "jwks"),
                lambda n: kind_of(broker_token(n), "broker_token"),
                held.call,
                lambda _: introspect,
                vault_validate,
            ]
            async with Traffic(client, calls) as traffic:
                await asyncio.sleep(1.5)
                stopping = time.monotonic()
                await asyncio.to_thread(cluster.stop, "fast")
                stopped = time.monotonic()
                await asyncio.sleep(2)
                status, checks = await readiness(client)
                assert status == 503
                assert checks["database"].startswith("unavailable")
                rotate = await asyncio.to_thread(
                    subprocess.run,
                    [*TOKEND, "keys", "rotate"],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert rotate.returncode == 1
                assert "Traceback" not in rotate.stderr
                assert "cannot be reached" in rotate.stderr

                starting = time.monotonic()
                await asyncio.to_thread(cluster.start)

                async def database_back() -> bool:
                    return (await readiness(client))[0] == 200

                recovered = await until(database_back)
                back = time.monotonic()
                await asyncio.sleep(2)
    finally:
        assert server.stop() == 0
    after = await pg_key_rows(cluster)
    outcomes = traffic.outcomes
    # Down: started once the database had stopped, answered before it was started again.
    phases: dict[str, list[Outcome]] = {
        "before": [o for o in outcomes if o.at + o.seconds < stopping],
        "down": [o for o in outcomes if o.at >= stopped and o.at + o.seconds < starting],
        "after": [o for o in outcomes if o.at >= back],
    }
    by_phase = {phase: traffic.by_kind(found) for phase, found in phases.items()}
    answers = traffic.answers()
    record(
        FaultRow(
            "postgres_stopped",
            sum(answers.values()),
            dict(answers),
            recovered,
            "keys unchanged" if after == before else "KEYS CHANGED",
            "JWKS and cached broker tokens 200 throughout; refresh, opaque introspection and "
            "vault validate (caches off) answered without a 200 while PostgreSQL was down, "
            "200 again once it was back; /ready 503 naming the database",
            by_phase,
        )
    )
    assert after == before
    for kind in MEMORY_KINDS:
        assert set(traffic.answers(kind=kind)) == {"200"}, kind
    for kind in DATABASE_KINDS:
        assert set(by_phase["before"].get(kind, {})) == {"200"}, (kind, by_phase)
        down = by_phase["down"].get(kind, {})
        assert down, f"no {kind} call while PostgreSQL was down"
        # An HTTP answer to every call (no hang past the client's timeout, no dropped
        # connection), and none of them a success the database could not have given.
        assert all(answer.isdigit() and answer != "200" for answer in down), (kind, down)
        assert set(by_phase["after"].get(kind, {})) == {"200"}, (kind, by_phase)
    # RFC 6749 §5.2 has no code for it, but a database outage is the server's temporary state:
    # 503 (temporarily_unavailable, and the vault's 503) tells clients to retry.
    statuses = {answer for kind in DATABASE_KINDS for answer in by_phase["down"][kind]}
    assert statuses == {"503"}, by_phase["down"]
    # Calls in flight while PostgreSQL was shutting down or starting up ("the database system
    # is shutting down / starting up", SQLSTATE 57P03) are the same outage: 503, never a 500.
    assert set(answers) <= {"200", "503"}, answers
