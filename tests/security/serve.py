"""A real ``tokend serve`` for one security case: SQLite, its own port, stopped cleanly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, migrate, start, tokend_env
from tests.secrets_seen import SecretsSeen


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def server_env(tmp: Path, name: str = "serve", **env: str) -> dict[str, str]:
    """The environment of a case's server and of the CLI commands run beside it."""
    return tokend_env(
        TOKEND_DATABASE__URL=_sqlite_url(tmp / f"{name}.db"),
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_LOG__ACCESS_LOG="false",
        **env,
    )


@contextmanager
def tokend_serve(
    tmp: Path,
    secrets_seen: SecretsSeen,
    *args: str,
    name: str = "serve",
    port: int | None = None,
    environment: Mapping[str, str] | None = None,
    **env: str,
) -> Iterator[Server]:
    """``tokend serve ARGS`` with ``environment`` and ``env`` on a fresh, migrated SQLite
    database (no demo data unless they ask); its log is checked for registered secrets at the
    end of the session, and for crashes when it stops."""
    port = port or free_port()
    log_path = tmp / f"{name}.log"
    secrets_seen.add_log_file(log_path)
    full_env = server_env(tmp, name, **{**(environment or {}), **env})
    migrate(full_env)
    server = start([*TOKEND, "serve", "--port", str(port), *args], full_env, port, log_path)
    try:
        yield server
    finally:
        assert server.stop() == 0
        log = server.log()
        assert "request.crashed" not in log
        assert "Traceback" not in log
