"""A real Prometheus (the Debian `prometheus` binary) scrapes a real `tokend serve` process and
answers a PromQL query over its HTTP API with tokend's `http_requests_total`."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

DEADLINE_S = 30.0


@pytest.fixture
def tokend(tmp_path: Path, secrets_seen: SecretsSeen) -> Iterator[Server]:
    port = free_port()
    log_path = tmp_path / "tokend.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DEMO_DATA="true",  # migrates its own database
        TOKEND_LOG__FORMAT="json",
    )
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, tokend: Server) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (Debian package `prometheus`, see .ci/run)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = tokend.base_url.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: tokend\n    static_configs:\n      - targets: ['{target}']\n"
        "        labels: {role: all-in-one}\n",
        encoding="utf-8",
    )
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(client: httpx.Client, promql: str) -> list[dict[str, object]]:
    """The vector result of ``promql``; empty while Prometheus is starting or has not scraped."""
    try:
        response = client.get("/api/v1/query", params={"query": promql})
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    body = response.json()
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_tokend_and_promql_returns_its_requests(
    tokend: Server, prometheus: str, tmp_path: Path
) -> None:
    with httpx.Client(base_url=tokend.base_url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/.well-known/jwks.json").status_code == 200
    promql = 'http_requests_total{job="tokend", route="/.well-known/jwks.json", status="200"}'
    result: list[dict[str, object]] = []
    deadline = time.monotonic() + DEADLINE_S
    with httpx.Client(base_url=prometheus, timeout=5) as client:
        while not result and time.monotonic() < deadline:
            result = query(client, promql)
            if not result:
                time.sleep(0.5)
        log = (tmp_path / "prometheus.log").read_text(errors="replace")
        assert result, f"no {promql} within {DEADLINE_S} s; prometheus log:\n{log}"
        (series,) = result
        metric = series["metric"]
        assert isinstance(metric, dict)
        assert metric["__name__"] == "http_requests_total"
        assert metric["role"] == "all-in-one"
        assert metric["method"] == "GET"
        value = series["value"]
        assert isinstance(value, list)
        assert float(value[1]) >= 3
        (up,) = query(client, 'up{job="tokend"}')
        assert isinstance(up["value"], list)
        assert up["value"][1] == "1"
