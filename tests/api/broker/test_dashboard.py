"""The broker's Grafana dashboard loads and references only metrics tokend exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "broker.json"
METRIC = re.compile(r"\b((?:tokend|http)_[a-z0-9_]+)")
SUFFIXES = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def _exported(exposition: str) -> set[str]:
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names.update(family + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


async def test_every_metric_the_dashboard_queries_is_exported(demo: httpx.AsyncClient) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert "tokend_broker_tokens_total" in used
    assert "tokend_circuit_breaker_state" in used
    for _ in range(2):  # labelled series appear once used: an issued and a cached token
        response = await demo.post(
            "/broker/api/demo/token",
            params={"mcc": "972", "sn": "0527464600"},
            data={"auth_code": "best_auth_demo"},
        )
        assert response.status_code == 200
    exported = _exported((await demo.get("/metrics")).text)
    assert used <= exported, sorted(used - exported)
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("requests per second", "p50 / p95 / p99", "operator", "cache hit", "breaker"):
        assert topic in titles
