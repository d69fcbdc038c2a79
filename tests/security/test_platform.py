"""The platform review's cases (server start-up, settings, deployment) against real ``tokend``
processes: per-IP limits keyed on the client a trusted proxy names and on nothing a client can
say itself, ``--demo`` kept away from production and from databases it did not create,
production refusing what the committed placeholders and the defaults left open, and worker
processes that get their settings without them in their environment."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import Request
from starlette.responses import JSONResponse

from tests.conftest import (
    POSTGRES_URL,
    RUN_ID,
    TEST_SECRET_KEY,
    _drop_schema,
    inside_one_rate_window,
)
from tests.e2e.fuzzing import demo_server
from tests.e2e.server import TOKEND, Server, free_port, migrate, start, tokend_env, tokend_json
from tests.secrets_seen import SecretsSeen
from tokend.app import create_app
from tokend.config import Settings

pytestmark = pytest.mark.e2e

SERVERS = ["uvicorn", "granian"]
#: What one address may start per minute in these tests (``interactions_per_ip``).
LIMIT = 3
#: ``deploy/envs/common.env``'s placeholder ``TOKEND_SECRET_KEY`` as it was committed: public.
COMMITTED_PLACEHOLDER_KEY = "placeholder-secret-key-replace-me-with-48-random-chars"
STRONG_ADMIN_TOKEN = "admin-" + secrets.token_urlsafe(32)
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(32)


def run_tokend(
    args: list[str], env: dict[str, str], cwd: Path, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOKEND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s
    )


def refusal_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``tokend: …`` lines of a start-up tokend refused with exit 2 (and nothing else)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("tokend: ") for line in lines), lines
    return lines


# ---- 5: per-IP limits use the client a trusted proxy names, and only that ----------------------


def authorize_params(base_url: str) -> dict[str, str]:
    """An /authorize request of the demo web client that needs the user: one pending sign-in."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return {
        "response_type": "code",
        "client_id": "demo-web",
        "redirect_uri": f"{base_url}/demo/callback",
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }


async def sign_in_statuses(
    client: httpx.AsyncClient, base_url: str, forwarded_for: list[str]
) -> list[int]:
    """The status of one /authorize per ``X-Forwarded-For`` value: 303 to the sign-in, or 429."""
    statuses = []
    for value in forwarded_for:
        response = await client.get(
            f"{base_url}/authorize",
            params=authorize_params(base_url),
            headers={"X-Forwarded-For": value},
        )
        statuses.append(response.status_code)
    return statuses


@pytest.fixture(scope="module", params=SERVERS)
def limited_servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    secrets_seen: SecretsSeen,
) -> Iterator[tuple[Server, Server]]:
    """Two demo servers limiting sign-ins per address: one trusting no proxy (the default), one
    trusting a proxy at 127.0.0.2 (an ingress on an address of its own)."""
    limits = {
        "TOKEND_SERVER__SERVER": request.param,
        "TOKEND_OIDC__RATE_LIMITS__INTERACTIONS_PER_IP": f"{LIMIT}/minute",
    }
    tmp = tmp_path_factory.mktemp(f"limits-{request.param}")
    (tmp / "direct").mkdir()
    (tmp / "proxied").mkdir()
    with (
        demo_server(tmp / "direct", secrets_seen, **limits) as direct,
        demo_server(
            tmp / "proxied",
            secrets_seen,
            TOKEND_SERVER__FORWARDED_ALLOW_IPS='["127.0.0.2/32"]',
            **limits,
        ) as proxied,
    ):
        yield direct, proxied


@pytest.fixture
async def proxy() -> AsyncIterator[httpx.AsyncClient]:
    """Requests from 127.0.0.2, as a reverse proxy on an address of its own sends them."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        yield client


async def test_a_rotating_x_forwarded_for_from_loopback_does_not_escape_the_per_ip_limit(
    limited_servers: tuple[Server, Server],
) -> None:
    direct, _ = limited_servers
    await inside_one_rate_window()
    forwarded = [f"198.51.100.{n}" for n in range(LIMIT + 2)]
    async with httpx.AsyncClient(timeout=10) as client:
        statuses = await sign_in_statuses(client, direct.base_url, forwarded)
    assert statuses == [303] * LIMIT + [429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    limited_servers: tuple[Server, Server], proxy: httpx.AsyncClient
) -> None:
    _, proxied = limited_servers
    await inside_one_rate_window()
    # The proxy appends the address it got the request from to whatever the client sent: a
    # client naming someone else each time is still the address the proxy saw.
    attacker = [f"198.51.100.{n}, 203.0.113.66" for n in range(LIMIT + 1)]
    assert await sign_in_statuses(proxy, proxied.base_url, attacker) == [303] * LIMIT + [429]
    # Everyone else behind the same proxy still signs in.
    others = ["203.0.113.7", "203.0.113.8"]
    assert await sign_in_statuses(proxy, proxied.base_url, others) == [303, 303]


def test_the_tcp_peer_stays_in_the_scope_when_the_client_is_forwarded(
    settings: Settings,
) -> None:
    """The gateway's trust in Kong reads the TCP peer (``tokend.server.peer.tcp_peer``), never
    the forwarded client: here through a real uvicorn run with ``tokend serve``'s options."""
    from tokend.cli.main import uvicorn_options
    from tokend.server.peer import tcp_peer

    port = free_port()
    data = settings.model_dump(mode="python")
    data["server"] = {"port": port, "forwarded_allow_ips": ["127.0.0.2/32"]}
    configured = Settings.model_validate(data)
    app = create_app(configured)

    async def who(request: Request) -> JSONResponse:
        client = request.client.host if request.client else None
        return JSONResponse({"client": client, "peer": tcp_peer(request.scope)})

    app.add_api_route("/who", who)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options(configured.server)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            time.sleep(0.02)
        base_url = f"http://127.0.0.1:{port}"
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=10) as proxied:
            from_the_proxy = proxied.get(f"{base_url}/who", headers=forwarded).json()
        from_anyone_else = httpx.get(f"{base_url}/who", headers=forwarded, timeout=10).json()
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert from_the_proxy == {"client": "203.0.113.9", "peer": "127.0.0.2"}
    assert from_anyone_else == {"client": "127.0.0.1", "peer": "127.0.0.1"}


# ---- 7: --demo never in production, never into a database a demo run did not create -----------


@pytest.mark.parametrize("said_by", ["environment", "config file", ".env file"])
def test_demo_is_refused_when_the_settings_say_production(tmp_path: Path, said_by: str) -> None:
    database = tmp_path / "production.db"
    env = tokend_env(TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{database}")
    args = ["serve", "--demo", "--port", str(free_port())]
    if said_by == "environment":
        env["TOKEND_ENV"] = "production"
    elif said_by == "config file":
        (tmp_path / "tokend.yaml").write_text("env: production\n", encoding="utf-8")
        args = ["--config", str(tmp_path / "tokend.yaml"), *args]
    else:
        (tmp_path / ".env").write_text("TOKEND_ENV=production\n", encoding="utf-8")
    (line,) = refusal_lines(run_tokend(args, env, tmp_path, timeout_s=30))
    assert "--demo" in line
    assert "production" in line
    assert not database.exists()  # nothing was written anywhere


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A database of this test's own: a SQLite file or a PostgreSQL schema (dropped after)."""
    if request.param == "sqlite":
        yield {"TOKEND_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}"}
        return
    if POSTGRES_URL is None:
        pytest.skip("TOKEND_TEST_DATABASE_URL unset")
    schema = f"platform_{RUN_ID}_{secrets.token_hex(3)}"
    yield {"TOKEND_DATABASE__URL": POSTGRES_URL, "TOKEND_DATABASE__SCHEMA_NAME": schema}
    import asyncio

    asyncio.run(_drop_schema(POSTGRES_URL, schema))


def demo_clients(env: dict[str, str]) -> list[str]:
    """The client ids ``tokend clients list`` shows that the demo would have created."""
    listed = tokend_json(env, "clients", "list")
    return sorted(c["client_id"] for c in listed if "demo" in c["client_id"])


def test_demo_never_seeds_a_database_it_did_not_create(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    env = tokend_env(TOKEND_SECRET_KEY=TEST_SECRET_KEY, **database_env)
    migrate(env)
    result = run_tokend(["serve", "--demo", "--port", str(free_port())], env, tmp_path, 30)
    (line,) = refusal_lines(result)
    assert "not created by a demo run" in line
    assert demo_clients(env) == []


def test_a_database_a_demo_run_created_is_the_demos_to_reuse(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    database = tmp_path / "demo.db"
    env = tokend_env(TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{database}")
    for run in ("first", "second"):
        port = free_port()
        log = tmp_path / f"{run}.log"
        secrets_seen.add_log_file(log)
        server = start([*TOKEND, "serve", "--demo", "--port", str(port)], env, port, log)
        assert server.stop() == 0
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT client_id FROM oidc_clients WHERE client_id = 'demo-service'")
        assert rows.fetchall() == [("demo-service",)]


# ---- 21: production refuses placeholders, weak tokens, an open vault, http issuers, open metrics


def test_production_lists_every_unsafe_setting_at_once(tmp_path: Path) -> None:
    guard_issuers = [{"issuer": "http://idp.example.test/realms/x", "audiences": ["api"]}]
    env = tokend_env(
        TOKEND_ENV="production",
        TOKEND_ISSUER="https://auth.example.test",
        TOKEND_SECRET_KEY=COMMITTED_PLACEHOLDER_KEY,
        TOKEND_ADMIN_TOKEN="x",
        TOKEND_BROKER__ADMIN_TOKEN="y",
        TOKEND_GATEWAY__ADMIN_TOKEN="z",
        TOKEND_VAULT__OPEN_ACCESS="true",
        TOKEND_GUARD__ISSUERS=json.dumps(guard_issuers),
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}",
    )
    lines = refusal_lines(run_tokend(["serve", "--port", str(free_port())], env, tmp_path, 30))
    expected = [
        "TOKEND_SECRET_KEY",
        "TOKEND_ADMIN_TOKEN",
        "TOKEND_BROKER__ADMIN_TOKEN",
        "TOKEND_GATEWAY__ADMIN_TOKEN",
        "TOKEND_VAULT__OPEN_ACCESS",
        "TOKEND_GUARD__ISSUERS",
        "TOKEND_METRICS__",
    ]
    assert len(lines) == len(expected), lines
    for name in expected:
        assert sum(line.split()[1].startswith(name) for line in lines) == 1, (name, lines)
    assert not (tmp_path / "tokend.db").exists()


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A production server's settings on a database ``tokend migrate`` made."""
    env = tokend_env(
        TOKEND_ENV="production",
        TOKEND_ISSUER="https://auth.example.test",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ADMIN_TOKEN=STRONG_ADMIN_TOKEN,
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}",
        TOKEND_GATEWAY__SOURCE="local",
        TOKEND_LOG__ACCESS_LOG="false",
        **extra,
    )
    migrate(env)
    return env


@pytest.fixture
def production(tmp_path: Path, secrets_seen: SecretsSeen) -> Iterator[Server]:
    secrets_seen.add(STRONG_ADMIN_TOKEN)
    secrets_seen.add(METRICS_TOKEN)
    env = production_env(tmp_path, TOKEND_METRICS__TOKEN=METRICS_TOKEN)
    port = free_port()
    log = tmp_path / "serve.log"
    secrets_seen.add_log_file(log)
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log)
    yield server
    assert server.stop() == 0


def test_production_serves_no_api_docs_and_metrics_only_with_their_token(
    production: Server,
) -> None:
    with httpx.Client(base_url=production.base_url, timeout=10) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404
        anonymous = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="tokend"'
    assert wrong.status_code == 401
    assert "http_requests_total" not in anonymous.text + wrong.text
    assert scraped.status_code == 200
    assert "http_requests_total" in scraped.text


def test_production_serves_metrics_on_their_own_port_and_docs_when_asked(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    metrics_port = free_port()
    env = production_env(
        tmp_path, TOKEND_METRICS__PORT=str(metrics_port), TOKEND_SERVER__API_DOCS="true"
    )
    port = free_port()
    log = tmp_path / "serve.log"
    secrets_seen.add(STRONG_ADMIN_TOKEN)
    secrets_seen.add_log_file(log)
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log)
    try:
        with httpx.Client(timeout=10) as client:
            assert client.get(f"{server.base_url}/metrics").status_code == 404
            scraped = client.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert client.get(f"{server.base_url}/docs").status_code == 200
            assert client.get(f"{server.base_url}/openapi.json").status_code == 200
    finally:
        assert server.stop() == 0
    assert scraped.status_code == 200
    assert "http_requests_total" in scraped.text


# ---- 1: worker processes get their settings from a private file, never their environment --------


def wait_for(condition: Callable[[], bool], what: str, within_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``within_s``."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within_s} s"
        time.sleep(0.05)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc, children before grandchildren)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


@pytest.mark.parametrize("server_kind", SERVERS)
def test_workers_get_their_settings_from_a_private_file_never_their_environment(
    tmp_path: Path, server_kind: str, secrets_seen: SecretsSeen
) -> None:
    secret_key = secrets_seen.add("handoff-key-" + secrets.token_urlsafe(32))
    admin_token = secrets_seen.add("handoff-admin-" + secrets.token_urlsafe(32))
    vault_token = secrets_seen.add("handoff-vault-" + secrets.token_urlsafe(32))
    config = tmp_path / "tokend.yaml"
    config.write_text(
        f"secret_key: {secret_key}\nadmin_token: {admin_token}\n"
        f"vault:\n  api_token: {vault_token}\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'tokend.db'}\n"
        f"server:\n  server: {server_kind}\n",
        encoding="utf-8",
    )
    private_tmp = tmp_path / "tmp"  # where the server makes its temporary files (TMPDIR)
    private_tmp.mkdir()
    env = tokend_env(TMPDIR=str(private_tmp))
    migrated = run_tokend(["--config", str(config), "migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = tmp_path / "serve.log"
    secrets_seen.add_log_file(log)
    command = [*TOKEND, "--config", str(config), "serve", "--workers", "2", "--port", str(port)]
    server = start(command, env, port, log)
    try:
        # Both workers up before anything else: /health answers once one is, and granian hangs
        # if it is stopped while a worker is still starting.
        wait_for(lambda: server.log().count('"tokend.started"') == 2, "both workers started")
        (handoff,) = [p for p in private_tmp.rglob("*") if p.is_file()]
        assert stat.S_IMODE(handoff.stat().st_mode) == 0o600
        assert stat.S_IMODE(handoff.parent.stat().st_mode) == 0o700
        assert secret_key in handoff.read_text(encoding="utf-8")
        workers = descendants(server.process.pid)
        assert len(workers) >= 2
        handed: set[str] = set()
        for pid in workers:
            environment = environment_of(pid)
            text = "\n".join(f"{k}={v}" for k, v in environment.items())
            for secret in (secret_key, admin_token, vault_token):
                assert secret not in text, f"process {pid} has a secret in its environment"
            handed |= {v for k, v in environment.items() if k == "TOKEND_HANDOFF_FILE"}
        if server_kind == "uvicorn":
            # Spawned workers: /proc shows the environment they were started with. (granian
            # forks its workers, whose /proc environ is the parent's at its own start.)
            assert handed == {str(handoff)}
        assert httpx.get(f"{server.base_url}/ready", timeout=10).status_code == 200
    finally:
        code = server.stop()
    assert code == 0, server.log()
    assert list(private_tmp.iterdir()) == []  # the file and its directory are gone
