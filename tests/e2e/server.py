"""Start a real ``tokend`` process for a test and stop it cleanly."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import httpx
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
TOKEND = [sys.executable, "-m", "tokend"]


# Ports handed out by free_port: below Linux's ephemeral range (32768-60999), where the kernel
# never picks a port for a connection or a bind to port 0, and a block of its own for each
# pytest-xdist worker. A port asked of the kernel (bind to port 0, then close) could be given to
# another worker's server in the moment before ours binds it; a test then talked to the wrong
# server, which went away with its own test (a ConnectError after /health had answered).
_PORT_BASE: Final = 20_000
_PORT_BLOCK: Final = 400
_PORT_BLOCKS: Final = 30  # 30 blocks of 400 from 20,000 end at 32,000, below that range
_next_port: list[int] = []


def port_block(worker: str) -> range:
    """The ports :func:`free_port` hands out in pytest-xdist worker ``worker`` (``gw0``, …;
    "" outside xdist, for ``make bench`` and a plain ``pytest``)."""
    index = int(worker[2:]) + 1 if worker.startswith("gw") else 0
    start = _PORT_BASE + (index % _PORT_BLOCKS) * _PORT_BLOCK
    return range(start, start + _PORT_BLOCK)


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on, from this worker's own block.

    Successive calls go round the block, starting at a place set by the process id (two runs
    side by side on one machine rarely meet), and skip a port that cannot be bound now."""
    block = port_block(os.environ.get("PYTEST_XDIST_WORKER", ""))
    if not _next_port:
        _next_port.append(os.getpid() % len(block))
    for _ in block:
        port = block[_next_port[0] % len(block)]
        _next_port[0] += 1
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {block}")


def tokend_command(env: dict[str, str], *args: str) -> str:
    """Run ``tokend ARGS`` in ``env`` (it must succeed); what it printed on standard output.

    The command line runs in this process, as ``tests/unit/oidc/test_cli.py`` runs it: a set-up
    step (a client, a user) costs its own work instead of another process that imports tokend
    (about 1.6 s of CPU each). ``env`` replaces the process's TOKEND_* settings for the call,
    and a thread of its own gives the command's ``asyncio.run`` a thread without a loop."""
    from tokend.cli.main import app  # on first use: most importers only start servers

    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith("TOKEND_")}
    with ThreadPoolExecutor(1) as thread:
        done = thread.submit(CliRunner().invoke, app, list(args), env={**unset, **env})
        result = done.result()
    assert result.exit_code == 0, f"tokend {' '.join(args)}: {result.output}{result.exception!r}"
    return result.stdout


def tokend_json(env: dict[str, str], *args: str) -> Any:
    """``tokend ARGS --json`` in ``env`` (:func:`tokend_command`), read."""
    return json.loads(tokend_command(env, *args, "--json"))


SQLITE: Final = "sqlite+aiosqlite:///"


@cache
def _migrated_template() -> Path:
    """An empty SQLite database ``tokend migrate`` made, once per test process. Removed when the
    process exits."""
    folder = Path(tempfile.mkdtemp(prefix="tokend-migrated-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    template = folder / "template.db"
    env = tokend_env(TOKEND_DATABASE__URL=f"{SQLITE}{template}", TOKEND_SECRET_KEY="t" * 48)
    tokend_command(env, "migrate")
    return template


def migrate(env: dict[str, str]) -> None:
    """``tokend migrate`` for the database of ``env``, run in this process
    (:func:`tokend_command`). A new SQLite file is a copy of the one that command made in this
    process (the same file, without migrating again per server); any other database is migrated
    by its own run."""
    url = env.get("TOKEND_DATABASE__URL", "")
    database = Path(url.removeprefix(SQLITE))
    if url.startswith(SQLITE) and database.is_absolute() and not database.exists():
        shutil.copyfile(_migrated_template(), database)
        return
    tokend_command(env, "migrate")


def tokend_env(**overrides: str) -> dict[str, str]:
    """The parent environment without TOKEND_* settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEND_") or "_TEST_" in k}
    env.update(overrides)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 20.0) -> int:
        """Send ``sig`` to the whole process group and wait for the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start(
    command: Sequence[str],
    env: dict[str, str],
    port: int,
    log_path: Path,
    timeout_s: float = 60.0,
    poll_s: float = 0.05,
) -> Server:
    """Run ``command`` and wait until ``GET /health`` answers 200, or fail with its log."""
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        list(command),
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_file.close()
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout_s
    # One client for the whole wait: each httpx.get would build a client and its TLS context.
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"tokend exited with {process.returncode}:\n{server.log()}")
            try:
                if client.get(f"{server.base_url}/health").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(poll_s)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"tokend did not answer /health within {timeout_s} s:\n{server.log()}")
