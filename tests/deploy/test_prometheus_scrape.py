"""A real Prometheus (the Debian `prometheus` binary) scrapes a real `tokend serve` process and
answers a PromQL query over its HTTP API with tokend's `http_requests_total`; every dashboard
query runs, and demo traffic fills the panels the README says a newcomer will see."""

from __future__ import annotations

import json
import math
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, start, tokend_env
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


#: What a newcomer sees filled on each dashboard once the demo has some traffic (README,
#: "Run it with Docker"): dashboard file → panel titles. Panels left out need what a laptop
#: demo does not have (split roles, a failing upstream, a Kong source, a worker, Loki).
FILLED_BY_DEMO_TRAFFIC = {
    "overview": {
        "Requests per second by role",
        "5xx error ratio by role",
        "Latency p50 / p95 / p99 (all roles)",
        "Requests in flight",
        "Targets up",
        "Circuit breaker state (0 closed, 1 open, 2 half-open)",
        "Cache lookups by tier and result",
    },
    "oidc": {
        "Requests per second by route and status",
        "Token endpoint latency p50 / p95 / p99",
        "Access tokens issued by grant",
        "JWKS requests by status",
    },
    "gateway": {
        "Requests per second by route and status",
        "Tokens by outcome",
        "Consumer secret cache: fresh / stale / miss",
        "JWT signing p99",
    },
    "broker": {
        "Token requests per second by status",
        "Token latency p50 / p95 / p99",
        "Broker tokens by operator and outcome",
        "Upstream latency p95 by operator",
        "Upstream calls by operator and outcome",
        "Cache hit ratio",
    },
    "telco": {"Operator token latency p50 / p95 / p99"},
    "guard": {
        "Requests per second by route and status",
        "Guard latency p50 / p95 / p99",
        "401 / 403 answers per second",
    },
    "vault": {"Requests per second by route and status"},
}
#: Grafana fills $__rate_interval from the scrape interval (here 1 s); 15 s spans many scrapes.
RATE_INTERVAL = "15s"


def demo_traffic(base_url: str, service_secret: str) -> None:
    """One request of each kind a dashboard shows: OIDC, gateway, broker (and its operator),
    guard and vault, as a demo user would send them."""
    with httpx.Client(base_url=base_url, timeout=5) as client:
        assert client.get("/.well-known/jwks.json").status_code == 200
        token = client.post(
            "/token",
            data={"grant_type": "client_credentials"},
            auth=("demo-service", service_secret),
        )
        assert token.status_code == 200, token.text
        gateway = client.get(
            "/gateway/tokens", headers={"apikey": "tkd_demo_gateway_key_0123456789abcdef"}
        )
        assert gateway.status_code == 200, gateway.text
        # A new subscriber each time: the broker calls its operator (a cached token would not).
        broker = client.post(
            "/broker/api/demo/token",
            params={"mcc": "972", "sn": f"052{secrets.randbelow(10**7):07d}"},
            data={"auth_code": "best_auth_code_123"},
        )
        assert broker.status_code == 200, broker.text
        assert client.get("/guard/auth/me").status_code == 401
        client.get("/vault/clients")  # answered (its status is on the panel, whatever it is)


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every Prometheus target, Grafana's variables filled in."""
    return [
        (panel["title"], target["expr"].replace("$__rate_interval", RATE_INTERVAL))
        for panel in dashboard["panels"]
        if panel.get("datasource", {}).get("type") == "prometheus"
        for target in panel.get("targets", [])
    ]


def has_a_number(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


def test_every_dashboard_query_runs_and_the_demo_fills_the_panels_a_newcomer_sees(
    tokend: Server, prometheus: str
) -> None:
    banner = next(line for line in tokend.log().splitlines() if "oidc service" in line)
    service_secret = banner.split("demo-service / ")[1].split()[0]
    dashboards = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((REPO / "deploy" / "grafana").glob("*.json"))
    }
    assert set(FILLED_BY_DEMO_TRAFFIC) <= set(dashboards)
    filled: dict[str, set[str]] = {name: set() for name in dashboards}
    deadline = time.monotonic() + DEADLINE_S
    with httpx.Client(base_url=prometheus, timeout=5) as client:
        # Traffic keeps flowing while Prometheus scrapes, so that rates are above zero.
        while time.monotonic() < deadline:
            demo_traffic(tokend.base_url, service_secret)
            for name, dashboard in dashboards.items():
                for title, promql in panel_queries(dashboard):
                    if has_a_number(query(client, promql)):
                        filled[name].add(title)
            if all(want <= filled[name] for name, want in FILLED_BY_DEMO_TRAFFIC.items()):
                break
            time.sleep(1)
        missing = {n: want - filled[n] for n, want in FILLED_BY_DEMO_TRAFFIC.items()}
        assert not any(missing.values()), f"panels still empty after {DEADLINE_S} s: {missing}"
        # Every query of every dashboard is PromQL that Prometheus accepts (status success),
        # including the panels the demo leaves empty.
        for name, dashboard in dashboards.items():
            for title, promql in panel_queries(dashboard):
                response = client.get("/api/v1/query", params={"query": promql})
                assert response.status_code == 200, (name, title, response.text)
                assert response.json()["status"] == "success", (name, title)
