"""Two ``tokend serve`` replicas on one PostgreSQL schema and one Redis: what one replica does,
the other sees — key rotation, cached tokens, one-time codes, browser sessions, refresh-token
reuse, rate limits."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN_TOKEN,
    PASSWORD,
    REDIRECT,
    RegisteredClient,
    code_params,
    pkce_pair,
    sign_in_and_consent,
)
from tests.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    RUN_ID,
    TEST_SECRET_KEY,
    _drop_schema,
    inside_one_rate_window,
)
from tests.e2e.server import REPO, TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        POSTGRES_URL is None or REDIS_URL is None, reason="needs PostgreSQL and Redis"
    ),
]

REFRESH_INTERVAL_S = 0.5
TOKEN_LIMIT = 6
CODE_ISSUER = "issuer-" + secrets.token_urlsafe(24)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BROKER_TOKEN = "/broker/api/demo/token?mcc=972&sn=0527464600"
TELCO_AUTH = '{"client_id": "ORANGE_DEMO_ID", "client_secret": "ORANGE_DEMO_SECRET"}'


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    assert POSTGRES_URL is not None
    assert REDIS_URL is not None
    schema = f"replicas_{RUN_ID}"
    env = tokend_env(
        TOKEND_ENV="demo",
        TOKEND_DEMO_DATA="true",
        TOKEND_MODULES="oidc,broker,telco",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_OIDC__REFRESH_GRACE_S="0",
        TOKEND_OIDC__RATE_LIMITS__TOKEN_PER_CLIENT=f"{TOKEN_LIMIT}/minute",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DATABASE__URL=POSTGRES_URL,
        TOKEND_DATABASE__SCHEMA_NAME=schema,
        TOKEND_REDIS__URL=REDIS_URL,
        TOKEND_REDIS__KEY_PREFIX=f"tokend-replicas:{RUN_ID}:",
        TOKEND_JOBS__BACKEND="inprocess",
        TOKEND_KEYS__REFRESH_INTERVAL_S=str(REFRESH_INTERVAL_S),
        TOKEND_TELCO__CODE_ISSUER_TOKEN=CODE_ISSUER,
        TOKEND_LOG__ACCESS_LOG="false",
    )
    subprocess.run([*TOKEND, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
    yield env
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture(scope="module")
def replicas(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, Server]]:
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(CODE_ISSUER)
    logs: Path = tmp_path_factory.mktemp("replicas")
    ports = [free_port(), free_port()]
    # One directory for both, as replicas behind a load balancer share one: the demo directory
    # would point each replica at its own in-process operators.
    directory = logs / "telco.yaml"
    directory.write_text(
        "prefixes:\n  97205:\n    operator_id: orange\n"
        f"    base_url: http://127.0.0.1:{ports[0]}/telcos/orange\n"
        "    client_id: ORANGE_DEMO_ID\n    client_secret: ORANGE_DEMO_SECRET\n",
        encoding="utf-8",
    )
    env = {**env, "TOKEND_BROKER__DIRECTORY_FILE": str(directory)}
    servers: list[Server] = []
    try:
        for name, port in zip("ab", ports, strict=True):
            log = logs / f"{name}.log"
            secrets_seen.add_log_file(log)
            servers.append(start([*TOKEND, "serve", "--port", str(port)], env, port, log))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            assert server.stop() == 0


def kids(server: Server) -> set[str]:
    return {
        key["kid"] for key in httpx.get(f"{server.base_url}/.well-known/jwks.json").json()["keys"]
    }


def test_a_key_rotated_on_one_replica_is_served_by_both(
    env: dict[str, str], replicas: tuple[Server, Server]
) -> None:
    before = kids(replicas[0])
    assert kids(replicas[1]) == before
    rotated = subprocess.run(
        [*TOKEND, "keys", "rotate"], env=env, cwd=REPO, check=True, capture_output=True, text=True
    )
    assert rotated.returncode == 0
    deadline = time.monotonic() + REFRESH_INTERVAL_S * 4 + 2
    while not all(kids(server) - before for server in replicas):
        assert time.monotonic() < deadline, "the rotation did not reach both JWKS in time"
        time.sleep(0.1)
    assert kids(replicas[0]) == kids(replicas[1])


def test_a_token_cached_by_one_replica_is_served_by_the_other(
    replicas: tuple[Server, Server],
) -> None:
    form = {"auth_code": "best_auth_demo"}
    first = httpx.post(f"{replicas[0].base_url}{BROKER_TOKEN}", data=form)
    second = httpx.post(f"{replicas[1].base_url}{BROKER_TOKEN}", data=form)
    assert first.status_code == second.status_code == 200
    # The same token, not a new one: replica b found replica a's in Redis.
    assert second.json()["access_token"] == first.json()["access_token"]


def test_a_one_time_code_is_used_once_across_replicas(replicas: tuple[Server, Server]) -> None:
    a, b = (f"{server.base_url}/telcos/orange/api/demo" for server in replicas)
    query = {"mcc": "972", "sn": "0527000001"}
    issued = httpx.post(
        f"{a}/codes", params=query, headers={"Authorization": f"Bearer {CODE_ISSUER}"}
    )
    assert issued.status_code == 201
    form = {"telco_auth": TELCO_AUTH, "auth_code": issued.json()["auth_code"]}
    assert httpx.post(f"{b}/token", params=query, data=form).status_code == 200
    assert httpx.post(f"{a}/token", params=query, data=form).status_code == 401
    assert httpx.post(f"{b}/token", params=query, data=form).status_code == 401


async def new_client(server: Server, secrets_seen: SecretsSeen, **fields: Any) -> RegisteredClient:
    body = {
        "name": "replica RP",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "scope": "openid profile email offline_access",
        **fields,
    }
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    data = response.json()
    secrets_seen.add(data["client_secret"])
    return RegisteredClient(data["client_id"], data["client_secret"])


async def new_user(server: Server) -> str:
    email = f"replica.{secrets.token_hex(3)}@example.org"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        body = {"email": email, "password": PASSWORD, "email_verified": True}
        response = await http.post("/admin/users", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    return email


async def test_a_login_on_one_replica_is_a_session_on_the_other_and_refresh_reuse_is_caught(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    a, b = replicas
    rp = await new_client(a, secrets_seen)
    email = await new_user(a)
    verifier, challenge = pkce_pair()
    async with httpx.AsyncClient(base_url=a.base_url) as on_a:
        query = await sign_in_and_consent(on_a, code_params(rp.client_id, challenge), email)
        cookies = on_a.cookies
        tokens = (
            await on_a.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"],
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                },
                auth=rp.auth,
            )
        ).json()
    secrets_seen.add(tokens["refresh_token"])
    async with httpx.AsyncClient(base_url=b.base_url, cookies=cookies) as on_b:
        # The browser session made on a is known to b: no login page, straight to the client.
        again = await on_b.get("/authorize", params=code_params(rp.client_id, challenge))
        assert again.status_code == 303
        assert again.headers["location"].startswith(REDIRECT)
        # A refresh token rotated on b...
        rotated = await on_b.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=rp.auth,
        )
        assert rotated.status_code == 200, rotated.text
        secrets_seen.add(rotated.json()["refresh_token"])
    async with httpx.AsyncClient(base_url=a.base_url) as on_a:
        # ...is refused when replayed on a, and the reuse revokes the successor too.
        replay = await on_a.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=rp.auth,
        )
        assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
        successor = await on_a.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": rotated.json()["refresh_token"]},
            auth=rp.auth,
        )
        assert successor.status_code == 400


async def test_rate_limits_are_shared_by_the_replicas(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    rp = await new_client(
        replicas[0], secrets_seen, grant_types=["client_credentials"], scope="api:read"
    )
    statuses = []
    await inside_one_rate_window()
    async with httpx.AsyncClient() as http:
        for n in range(TOKEN_LIMIT + 2):
            server = replicas[n % 2]  # alternate: each replica alone stays under the limit
            response = await http.post(
                f"{server.base_url}/token",
                data={"grant_type": "client_credentials", "scope": "api:read"},
                auth=rp.auth,
            )
            statuses.append(response.status_code)
    assert statuses[:TOKEN_LIMIT] == [200] * TOKEN_LIMIT
    assert statuses[TOKEN_LIMIT:] == [429, 429]
