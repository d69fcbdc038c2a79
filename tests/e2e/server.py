"""Start a real ``tokend`` process for a test and stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
TOKEND = [sys.executable, "-m", "tokend"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tokend_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``tokend ARGS --json`` in ``env`` (it must succeed) and read what it printed."""
    done = subprocess.run(
        [*TOKEND, *args, "--json"], env=env, cwd=REPO, check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


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
