"""Two ``tokend serve`` replicas on one PostgreSQL schema and one Redis: what one replica does,
the other sees — key rotation and removal, cached tokens, one-time codes, browser sessions,
refresh-token reuse, rate limits — and two vault replicas whose background refreshers sweep the
same connections without refreshing any twice."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from tests.api.oidc.conftest import (
    ADMIN_TOKEN,
    PASSWORD,
    REDIRECT,
    RegisteredClient,
    code_params,
    pkce_pair,
    sign_in_and_consent,
)
from tests.api.vault.fake_provider import FakeProvider
from tests.conftest import (
    POSTGRES_URL,
    REDIS_URL,
    RUN_ID,
    TEST_SECRET_KEY,
    _drop_schema,
    inside_one_rate_window,
)
from tests.e2e.server import REPO, TOKEND, Server, free_port, start, tokend_env
from tests.faults.conftest import metric_sum, until
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tests.upstreams import LOOPBACK_ALLOW_HOSTS
from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.vault.models import VaultToken
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import NewClient
from tokend.vault.sql import SqlClients, SqlConnections

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
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the operator is the other replica
        TOKEND_LOG__ACCESS_LOG="false",
    )
    # No `tokend migrate`: demo data goes only into a database a demo run created (the first
    # replica creates and migrates the schema).
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


async def test_a_key_removed_with_the_cli_leaves_both_replicas_and_its_tokens_fail(
    env: dict[str, str], replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    rp = await new_client(
        replicas[0], secrets_seen, grant_types=["client_credentials"], scope="api:read"
    )
    async with httpx.AsyncClient() as http:
        issued = await http.post(
            f"{replicas[0].base_url}/token",
            data={"grant_type": "client_credentials", "scope": "api:read"},
            auth=rp.auth,
        )
        assert issued.status_code == 200, issued.text
        token = secrets_seen.add(issued.json()["access_token"])
        kid = jwt.get_unverified_header(token)["kid"]
        # Each replica here is its own issuer (its port): a's tokens are introspected on a.
        introspect = f"{replicas[0].base_url}/introspect"
        before = await http.post(introspect, data={"token": token}, auth=rp.auth)
        assert before.json()["active"] is True

        def keys(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*TOKEND, "keys", *args], env=env, cwd=REPO, capture_output=True, text=True
            )

        refused = keys("remove", kid)  # still the active key
        assert (refused.returncode, refused.stderr.count("\n")) == (2, 1), refused.stderr
        assert "only retired keys can be removed" in refused.stderr
        assert keys("retire", kid).returncode == 0
        removed = keys("remove", kid)
        assert removed.returncode == 0, removed.stderr
        deadline = time.monotonic() + REFRESH_INTERVAL_S * 4 + 2
        while any(kid in kids(server) for server in replicas):
            assert time.monotonic() < deadline, "the removal did not reach both JWKS in time"
            await asyncio.sleep(0.1)
        after = await http.post(introspect, data={"token": token}, auth=rp.auth)
        assert after.json() == {"active": False}


async def test_a_token_cached_by_one_replica_is_served_by_the_other(
    env: dict[str, str], replicas: tuple[Server, Server]
) -> None:
    form = {"auth_code": "best_auth_demo"}
    redis = Redis.from_url(env["TOKEND_REDIS__URL"])
    cached = f"{env['TOKEND_REDIS__KEY_PREFIX']}broker:broker:*"
    async with httpx.AsyncClient() as http:
        first = await http.post(f"{replicas[0].base_url}{BROKER_TOKEN}", data=form)
        assert first.status_code == 200
        # The broker writes its cache after answering (broker.service): wait for the write,
        # as a request to the other replica a moment after the first's would find it.
        try:
            await until(lambda: _any_key(redis, cached), within_s=10)
        finally:
            await redis.aclose()
        second = await http.post(f"{replicas[1].base_url}{BROKER_TOKEN}", data=form)
    assert second.status_code == 200
    # The same token, not a new one: replica b found replica a's in Redis.
    assert second.json()["access_token"] == first.json()["access_token"]


async def _any_key(redis: Redis, pattern: str) -> bool:
    async for _ in redis.scan_iter(pattern):
        return True
    return False


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


async def _signed_in(
    server: Server, rp: RegisteredClient, secrets_seen: SecretsSeen
) -> tuple[dict[str, Any], httpx.Cookies, str]:
    """A new user's sign-in, consent and code exchange on ``server``: the tokens, the browser's
    cookies and the PKCE challenge of the authorization."""
    email = await new_user(server)
    verifier, challenge = pkce_pair()
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        query = await sign_in_and_consent(browser, code_params(rp.client_id, challenge), email)
        exchanged = await browser.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=rp.auth,
        )
        tokens: dict[str, Any] = exchanged.json()
        cookies = browser.cookies
    secrets_seen.add(tokens["refresh_token"])
    return tokens, cookies, challenge


async def test_a_login_on_one_replica_is_a_session_on_the_other_and_refresh_reuse_is_caught(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    a, b = replicas
    rp = await new_client(a, secrets_seen)
    tokens, cookies, challenge = await _signed_in(a, rp, secrets_seen)
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


async def test_a_grant_revoked_on_one_replica_denies_its_access_token_on_the_other_at_once(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    # a has checked the token (its "not revoked" marks for the jti and the grant sit in a's
    # memory tier); b revokes the grant (RFC 7009 §2.1: revoking the refresh token). a's next
    # check reads the revoked marks from Redis with the rest of its marks: inactive at once.
    a, b = replicas
    rp = await new_client(a, secrets_seen)
    tokens, _, _ = await _signed_in(a, rp, secrets_seen)
    access = {"token": tokens["access_token"]}
    async with httpx.AsyncClient() as http:
        for _ in range(2):
            active = await http.post(f"{a.base_url}/introspect", data=access, auth=rp.auth)
            assert active.json()["active"] is True
        revoked = await http.post(
            f"{b.base_url}/revoke", data={"token": tokens["refresh_token"]}, auth=rp.auth
        )
        assert revoked.status_code == 200
        after = await http.post(f"{a.base_url}/introspect", data=access, auth=rp.auth)
    assert after.json() == {"active": False}


async def test_an_opaque_token_revoked_on_one_replica_is_inactive_on_the_other_at_once(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    # b has read the token's record (its memory tier keeps it, decoded, for up to
    # cache.memory_ttl_s); a revokes the token. b's next check finds the jti denied in Redis.
    a, b = replicas
    rp = await new_client(
        a, secrets_seen, grant_types=["client_credentials"], redirect_uris=[],
        scope="api:read", access_token_format="opaque",
    )  # fmt: skip
    async with httpx.AsyncClient() as http:
        issued = await http.post(
            f"{a.base_url}/token",
            data={"grant_type": "client_credentials", "scope": "api:read"},
            auth=rp.auth,
        )
        assert issued.status_code == 200, issued.text
        token = {"token": secrets_seen.add(issued.json()["access_token"])}
        assert "." not in token["token"]  # opaque
        for _ in range(2):
            active = await http.post(f"{b.base_url}/introspect", data=token, auth=rp.auth)
            assert active.json()["active"] is True
            assert active.json()["client_id"] == rp.client_id
        revoked = await http.post(f"{a.base_url}/revoke", data=token, auth=rp.auth)
        assert revoked.status_code == 200
        on_b = await http.post(f"{b.base_url}/introspect", data=token, auth=rp.auth)
        on_a = await http.post(f"{a.base_url}/introspect", data=token, auth=rp.auth)
    assert on_b.json() == on_a.json() == {"active": False}


async def test_concurrent_refreshes_of_one_token_on_both_replicas_rotate_it_once(
    replicas: tuple[Server, Server], secrets_seen: SecretsSeen
) -> None:
    # The rotation is one PostgreSQL statement whose UPDATE is the arbiter: of four uses of one
    # refresh token at once, two on each replica, one gets a successor; the others are reuse
    # (no grace period here), which revokes the grant, the winner's successor with it.
    rp = await new_client(replicas[0], secrets_seen)
    tokens, _, _ = await _signed_in(replicas[0], rp, secrets_seen)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    async with httpx.AsyncClient() as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{server.base_url}/token", data=form, auth=rp.auth)
                for server in (*replicas, *replicas)
            )
        )
        won = [answer for answer in answers if answer.status_code == 200]
        assert len(won) == 1, [answer.text for answer in answers]
        assert all(
            (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")
            for answer in answers
            if answer is not won[0]
        )
        successor = secrets_seen.add(won[0].json()["refresh_token"])
        again = await http.post(
            f"{replicas[1].base_url}/token",
            data={"grant_type": "refresh_token", "refresh_token": successor},
            auth=rp.auth,
        )
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


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


CONNECTIONS = 200
SWEEP_EVERY_S = 0.5


@pytest.fixture
def vault_database() -> Iterator[DatabaseSettings]:
    assert POSTGRES_URL is not None
    schema = f"replicas_vault_{RUN_ID}"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema)
    migrate.upgrade(settings)
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture
def sweeping_provider(secrets_seen: SecretsSeen) -> Iterator[FakeProvider]:
    # Rotating: a connection refreshed twice would show as its first token presented twice,
    # or as a second refresh of the token the first one stored.
    fake = FakeProvider(client_id="replicas-app", rotates=True)
    with serving(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake
    for value in (*fake.issued_access_tokens, *fake.issued_refresh_tokens):
        secrets_seen.add(value)


async def seed_connections(
    database: DatabaseSettings, provider: FakeProvider, secrets_seen: SecretsSeen
) -> dict[int, str]:
    """``CONNECTIONS`` connected clients, each an app of its own at the provider, their tokens
    stored (encrypted) by the vault's own store and not due yet; client pk → refresh token."""
    db = open_database(database)
    cipher, clock = FieldCipher.from_secrets(TEST_SECRET_KEY), SystemClock()
    clients, store = SqlClients(db, cipher, clock), SqlConnections(db, cipher, clock)
    seeded: dict[int, str] = {}
    try:
        for n in range(CONNECTIONS):
            app_id, app_secret = f"sweep-app-{n}", secrets_seen.add(secrets.token_urlsafe(16))
            refresh_token = secrets_seen.add("rt-seed-" + secrets.token_urlsafe(16))
            provider.other_apps[app_id] = app_secret
            provider.grant(refresh_token)
            client, _ = await clients.register(
                NewClient(
                    client_id=app_id,
                    client_secret=app_secret,
                    redirect_uri="https://app.example.org/callback",
                    provider="fake",
                ),
                None,
            )
            tokens = TokenSet(
                access_token=secrets_seen.add("at-seed-" + secrets.token_urlsafe(16)),
                refresh_token=refresh_token,
                token_type="Bearer",
                scope=None,
                expires_in_s=86_400,
            )
            await store.store_connection(client.id, tokens)
            seeded[client.id] = refresh_token
    finally:
        await db.close()
    return seeded


async def make_all_due(database: DatabaseSettings) -> None:
    """Every connection expires in a minute: inside the refresher's window, all at once."""
    db = open_database(database)
    try:
        async with db.sessions.begin() as session:
            soon = datetime.now(UTC) + timedelta(seconds=60)
            await session.execute(update(VaultToken).values(expires_at=soon))
    finally:
        await db.close()


async def stored_tokens(database: DatabaseSettings, pks: list[int]) -> dict[int, tuple[str, str]]:
    """Each connection's stored (access, refresh) token, decrypted."""
    db = open_database(database)
    store = SqlConnections(db, FieldCipher.from_secrets(TEST_SECRET_KEY), SystemClock())
    stored: dict[int, tuple[str, str]] = {}
    try:
        for pk in pks:
            token = await store.current_token(pk)
            assert token is not None
            assert token.refresh_token is not None
            stored[pk] = (token.access_token, token.refresh_token)
    finally:
        await db.close()
    return stored


async def replica_metrics(replicas: list[Server]) -> list[str]:
    async with httpx.AsyncClient(timeout=10) as http:
        return [(await http.get(f"{server.base_url}/metrics")).text for server in replicas]


async def sweeps_done(replicas: list[Server]) -> list[float]:
    """How many refresher sweeps each replica has completed."""
    sweep = {"job": "vault.refresh_sweep", "outcome": "succeeded"}
    return [
        metric_sum(text, "tokend_jobs_total", **sweep) for text in await replica_metrics(replicas)
    ]


async def test_two_vault_replicas_refresh_each_connection_exactly_once(
    vault_database: DatabaseSettings,
    sweeping_provider: FakeProvider,
    tmp_path: Path,
    secrets_seen: SecretsSeen,
) -> None:
    provider = sweeping_provider
    seeded = await seed_connections(vault_database, provider, secrets_seen)
    assert REDIS_URL is not None
    env = tokend_env(
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DATABASE__URL=vault_database.url,
        TOKEND_DATABASE__SCHEMA_NAME=str(vault_database.schema_name),
        TOKEND_REDIS__URL=REDIS_URL,
        TOKEND_REDIS__KEY_PREFIX=f"tokend-replicas-vault:{RUN_ID}:",
        # Each replica runs the sweep on its own timer, as embedded replicas do: the claims
        # (SKIP LOCKED leases) and the Redis refresh locks are all that keep them apart.
        TOKEND_JOBS__BACKEND="inprocess",
        TOKEND_VAULT__PROVIDERS_FILE=str(provider.write_catalog(tmp_path / "providers.yaml")),
        TOKEND_VAULT__OPEN_ACCESS="true",
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the provider runs on loopback
        TOKEND_VAULT__REFRESH_EVERY_S=str(SWEEP_EVERY_S),
        # Small batches, so that each replica's sweeps come back for more while the other's run.
        TOKEND_VAULT__REFRESH_BATCH_SIZE="10",
        TOKEND_VAULT__REFRESH_CONCURRENCY="4",
        TOKEND_VAULT__REFRESH_JITTER_S="0.1",
        TOKEND_LOG__FORMAT="json",
        TOKEND_LOG__ACCESS_LOG="false",
    )
    provider.refresh_delay_s = 0.02  # a provider takes a moment to answer
    replicas: list[Server] = []
    try:
        for name in "ab":
            port, log = free_port(), tmp_path / f"vault-{name}.log"
            secrets_seen.add_log_file(log)
            command = [*TOKEND, "serve", "--only", "vault", "--port", str(port)]
            replicas.append(await asyncio.to_thread(start, command, env, port, log))
        await make_all_due(vault_database)

        async def all_refreshed() -> bool:
            return provider.refresh_calls >= CONNECTIONS

        await until(all_refreshed, within_s=120.0, every_s=0.2)
        # Both replicas sweep twice more after the last refresh: a late duplicate would be seen.
        done = await sweeps_done(replicas)

        async def swept_twice_more() -> bool:
            runs = await sweeps_done(replicas)
            return all(now >= before + 2 for now, before in zip(runs, done, strict=True))

        await until(swept_twice_more, within_s=60.0)
        texts = await replica_metrics(replicas)
    finally:
        for replica in replicas:
            assert replica.stop() == 0
    by_replica = [
        metric_sum(text, "tokend_vault_refresh_total", outcome="refreshed") for text in texts
    ]
    # Each seeded refresh token reached the provider exactly once, and nothing else did.
    assert provider.refreshes_by_token() == dict.fromkeys(seeded.values(), 1)
    assert provider.refresh_calls == CONNECTIONS
    # Every row holds the tokens its one refresh returned: 200 distinct new pairs.
    stored = await stored_tokens(vault_database, list(seeded))
    assert {access for access, _ in stored.values()} == set(provider.issued_access_tokens)
    assert {refresh for _, refresh in stored.values()} == set(provider.issued_refresh_tokens)
    assert len(provider.issued_refresh_tokens) == CONNECTIONS
    # Both replicas did part of the work, and together all of it.
    assert sum(by_replica) == CONNECTIONS
    assert all(count > 0 for count in by_replica), by_replica
