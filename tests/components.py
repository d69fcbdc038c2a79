"""Real components a test owns and can kill: a redis-server and a throw-away PostgreSQL cluster,
each on a spare loopback port of its own (never the shared services)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")
_PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
PG_BIN: Path | None = _PG_BINARIES[-1] if _PG_BINARIES else None


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class RedisServer:
    """A redis-server child process that can be killed and started again on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = spare_port()
        self._args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        self._args += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=5)
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)
            self._process = None


class PostgresCluster:
    """A PostgreSQL cluster of its own (initdb, trust auth, one port) run as the ``postgres``
    user when the test runs as root, so stopping it never touches the shared server."""

    def __init__(self, workdir: Path) -> None:
        if PG_BIN is None:
            raise AssertionError("PostgreSQL server binaries are not installed")
        self.port = spare_port()
        self.data = workdir / "pgdata"
        self.sockets = workdir / "pgsock"
        self.log = workdir / "postgres.log"
        for path in (self.data, self.sockets):
            path.mkdir(mode=0o700)
        self.log.touch()
        if os.geteuid() == 0:
            for path in (workdir, self.data, self.sockets, self.log):
                shutil.chown(path, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _run(self, tool: str, *args: str) -> None:
        assert PG_BIN is not None
        command = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
