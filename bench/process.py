"""What one ``tokend serve`` process costs: start-up time and resident memory after load.

``python -m bench.process --only gateway`` starts a production-like server (migrated SQLite
database, secret key, the bench scenarios' settings), times Popen to the first 200 on ``/health``,
loads it (GETs of ``/health``, then the gateway's token endpoint) and prints JSON, the median of
``--runs`` processes. The targets: start-up under 1.5 s, under 120 MB per worker. On a
shared machine the wall-clock start-up varies with the load; ``startup_cpu_ms`` (the CPU time
the server spent until then) varies much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env

from bench.scenarios import SCENARIOS, server_setup
from bench.services import drop, provider_env, service_urls
from bench.vault_seed import database_of, seed_vault_connection
from tokend.store import migrate

#: Requests sent before the resident memory is read: per path, one connection, in turn.
HEALTH_REQUESTS = 2_000
TOKEN_REQUESTS = 2_000


@dataclass(frozen=True, slots=True)
class Running:
    server: Server
    #: From Popen to the first 200 on /health.
    startup_ms: float
    env: dict[str, str]
    #: The deployment's first start (signing keys generated), when measured.
    first_start_ms: float | None = None

    @property
    def base_url(self) -> str:
        return self.server.base_url


def production_env(folder: Path, port: int) -> dict[str, str]:
    """The bench's production settings (a SQLite database in ``folder``, every other setting at
    its shipping default) with every scenario's set-up, for a server on ``port``."""
    return tokend_env(
        TOKEND_ENV="production",
        TOKEND_ISSUER="https://bench.tokend.test",
        TOKEND_SECRET_KEY=secrets.token_urlsafe(48),
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{folder}/bench.db",
        # Production keeps /metrics behind a token (or on a port of its own).
        TOKEND_METRICS__TOKEN=secrets.token_urlsafe(32),
        **server_setup(folder, port),
    )


@contextmanager
def production_server(
    args: Sequence[str] = (),
    overrides: Mapping[str, str] | None = None,
    *,
    first_start_ms: list[float] | None = None,
    prepare: Callable[[dict[str, str]], None] | None = None,
) -> Iterator[Running]:
    """A production-like ``tokend serve <args>`` (migrated SQLite database, secret key, every
    other setting at its shipping default: JSON logs at info, access log on) with every bench
    scenario's set-up, ``overrides`` last; stopped on exit.

    ``prepare`` is called with the server's environment after the migration and before the
    start (to load data the server should find). With ``first_start_ms``, the server is started
    once before (the first start of a deployment generates its signing keys, RSA ones
    included), stopped, and that start's time appended to the list: the one yielded then starts
    like a restarted or added replica, keys in the store.
    """
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = production_env(Path(tmp), port)
        env.update(overrides or {})
        # What `tokend migrate` runs, in this process: a CLI process would only add its start.
        migrate.upgrade(database_of(env))
        seed_vault_connection(env)
        if prepare is not None:
            prepare(env)
        if first_start_ms is not None:
            launched = time.monotonic()
            first = start([*TOKEND, "serve", *args, "--port", str(port)], env, port,
                          Path(tmp) / "first.log", poll_s=0.01)  # fmt: skip
            first_start_ms.append((time.monotonic() - launched) * 1000)
            first.stop()
        launched = time.monotonic()
        server = start(
            [*TOKEND, "serve", *args, "--port", str(port)],
            env,
            port,
            Path(tmp) / "serve.log",
            poll_s=0.01,
        )
        try:
            yield Running(server, (time.monotonic() - launched) * 1000, env)
        except BaseException:
            # A scenario that failed on this server: its log says why (a run's temporary
            # folder, and the log in it, is gone once the run ends).
            print(f"--- tokend serve {' '.join(args)} log (last 4,000 characters) ---",
                  server.log()[-4000:], sep="\n", file=sys.stderr)  # fmt: skip
            raise
        finally:
            server.stop()


@contextmanager
def postgres_server(server: str) -> Iterator[Running]:
    """A production-like ``tokend serve --only oidc`` on ``server`` with PostgreSQL and Redis,
    as deploy/compose.yaml runs the provider: a schema and key prefix of its own, dropped on
    exit."""
    db_url, redis_url = service_urls("the PostgreSQL scenarios")
    run_id = secrets.token_hex(3)
    schema = f"bench_provider_{run_id}"
    overrides = provider_env(server, db_url, schema, redis_url, f"bench-provider:{run_id}:")
    try:
        with production_server(["--only", "oidc"], overrides) as running:
            yield running
    finally:
        asyncio.run(drop(db_url, [schema], redis_url, f"bench-provider:{run_id}:*"))


@contextmanager
def demo_server(server: str) -> Iterator[Running]:
    """``tokend serve --demo`` on ``server`` as ``make run`` starts it (development settings:
    demo data, SQLite, the memory cache, console logs for people), its database in a folder of
    its own; the OIDC scenarios' clients are made in it by bench.oidc_setup as elsewhere."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = tokend_env(
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp}/demo.db",
            TOKEND_SERVER__SERVER=server,
        )
        launched = time.monotonic()
        command = [*TOKEND, "serve", "--demo", "--port", str(port)]
        running = start(command, env, port, Path(tmp) / "demo.log", poll_s=0.01)
        try:
            yield Running(running, (time.monotonic() - launched) * 1000, env)
        finally:
            running.stop()


@contextmanager
def raw_server(server: str) -> Iterator[Server]:
    """bench.raw_asgi's bare app on ``server`` (uvicorn or granian), on a free port."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        command = [sys.executable, "-m", "bench.raw_asgi", "--server", server, "--port", str(port)]
        running = start(command, tokend_env(), port, Path(tmp) / "raw.log", poll_s=0.01)
        try:
            yield running
        finally:
            running.stop()


def measure_process(env: Mapping[str, str], args: Sequence[str]) -> dict[str, float]:
    """Start ``tokend serve <args>`` with ``env`` over the bench's production-like settings, as
    a replica joins a deployment (its keys already stored), and return ``startup_ms`` (Popen to
    the first 200 on /health), ``startup_cpu_ms`` (the server's CPU time by then), ``rss_mb``
    after the load, and ``first_start_ms``: the deployment's very first start, keys generated."""
    first: list[float] = []
    with production_server(args, env, first_start_ms=first) as running:
        pid = running.server.process.pid
        startup_cpu_ms = cpu_ms(pid)
        load(running.base_url, gateway_tokens_path(args))
        return {
            "startup_ms": round(running.startup_ms),
            "startup_cpu_ms": round(startup_cpu_ms),
            "first_start_ms": round(first[0]),
            "rss_mb": rss_mb(pid),
        }


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_ms(pid: int) -> float:
    """User and system CPU time process ``pid`` has used (Linux /proc), in milliseconds."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) * 1000 / os.sysconf("SC_CLK_TCK")


def gateway_tokens_path(args: Sequence[str]) -> str | None:
    """Where the gateway issues tokens for ``serve <args>``: at the root when it is served alone,
    under its prefix in the all-in-one server, nowhere when another capability is served alone."""
    only = _option(args, "--only")
    if only is None:
        return "/gateway/tokens"
    return "/tokens" if only == "gateway" else None


def _option(args: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def load(base_url: str, tokens_path: str | None) -> None:
    """The load after which memory is read: /health, then the gateway's tokens (200 expected)."""
    headers = SCENARIOS["gateway_tokens"].headers
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for _ in range(HEALTH_REQUESTS):
            client.get("/health").raise_for_status()
        if tokens_path is None:
            return
        for _ in range(TOKEN_REQUESTS):
            client.get(tokens_path, headers=headers).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="serve one capability (default: all-in-one)")
    parser.add_argument("--runs", type=int, default=3, help="processes measured; median printed")
    options = parser.parse_args()
    args = ["--only", options.only] if options.only else []
    runs = [measure_process({}, args) for _ in range(options.runs)]
    result = {
        "args": args,
        "runs": runs,
        "startup_ms": statistics.median(r["startup_ms"] for r in runs),
        "startup_cpu_ms": statistics.median(r["startup_cpu_ms"] for r in runs),
        "rss_mb": statistics.median(r["rss_mb"] for r in runs),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
