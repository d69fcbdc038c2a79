"""``tokend serve --workers 2``: ``/metrics`` counts the requests of every worker, whichever
worker answers the scrape (prometheus-client's multiprocess mode, ``obs.metrics``)."""

from __future__ import annotations

import re
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import TOKEND, free_port, start, tokend_env

pytestmark = pytest.mark.e2e

SERVERS = ("uvicorn", "granian")
REQUESTS = 40


def _series(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(pairs.get(k) == v for k, v in labels.items()):
            found.append((pairs, float(value)))
    return found


@pytest.mark.parametrize("server_kind", SERVERS)
def test_metrics_add_up_every_workers_requests(tmp_path: Path, server_kind: str) -> None:
    config = tmp_path / "tokend.yaml"
    config.write_text(
        f"secret_key: {secrets.token_urlsafe(32)}\n"
        f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'tokend.db'}\n"
        f"server:\n  server: {server_kind}\n",
        encoding="utf-8",
    )
    env = tokend_env(TOKEND_LOG__FORMAT="json", TMPDIR=str(tmp_path))
    migrated = subprocess.run(
        [*TOKEND, "--config", str(config), "migrate"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    command = [*TOKEND, "--config", str(config), "serve", "--workers", "2", "--port", str(port)]
    server = start(command, env, port, tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 60
        while server.log().count('"tokend.started"') < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        request_ids: set[str] = set()
        for _ in range(REQUESTS):
            # A connection each, so the kernel hands them to either worker.
            response = httpx.get(f"{server.base_url}/.well-known/jwks.json", timeout=10)
            assert response.status_code == 200
            request_ids.add(response.headers["x-request-id"])
        # Each worker draws its ids from blocks of its own (core.crypto.id_bytes): none repeats.
        assert len(request_ids) == REQUESTS
        pids: set[str] = set()
        for _ in range(8):
            text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
            counted = _series(text, "http_requests_total", route="/.well-known/jwks.json")
            assert sum(value for _, value in counted) == REQUESTS, text
            pids |= {labels["pid"] for labels, _ in _series(text, "tokend_cache_degraded")}
        # Each worker's own gauge is in every scrape: two workers, two pids.
        assert len(pids) == 2, pids
    finally:
        code = server.stop()
    assert code == 0, server.log()
