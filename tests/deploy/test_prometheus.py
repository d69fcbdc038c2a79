"""Prometheus config, alert rules and Grafana dashboards: checked by promtool, and every metric
they use is exported by a running tokend (all capabilities, demo data)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.conftest import DEPLOY, TOKEND_METRIC, run
from tests.e2e.server import free_port
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings
from tokend.gateway.demo import DEMO_API_KEY
from tokend.store.settings import DatabaseSettings

PROMETHEUS = DEPLOY / "prometheus"
RULES = PROMETHEUS / "rules" / "tokend.yml"
GRAFANA = DEPLOY / "grafana"
DOC = DEPLOY.parent / "docs" / "operations.md"
REQUIRED_ALERTS = {  # issue 9: error rate, p99 latency, breaker open, refresh failures, Redis
    "TokendHighErrorRate",
    "TokendHighLatencyP99",
    "TokendCircuitBreakerOpen",
    "TokendVaultRefreshFailures",
    "TokendRedisDegraded",
}
SUFFIXES = {"counter": ("",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed (Debian package `prometheus`, see .ci/run)")
    return path


def test_promtool_accepts_the_prometheus_config() -> None:
    out = run([promtool(), "check", "config", "prometheus.yml"], cwd=PROMETHEUS)
    assert "1 rule files found" in out


def test_promtool_accepts_the_rules_and_they_fire_as_specified() -> None:
    run([promtool(), "check", "rules", str(RULES)])
    out = run([promtool(), "test", "rules", "tests/tokend_test.yml"], cwd=PROMETHEUS)
    assert "SUCCESS" in out


def test_prometheus_scrapes_every_role_every_5_seconds() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["global"]["scrape_interval"] == "5s"
    targets = {
        target
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    # Every role's /metrics is on its own port (TOKEND_METRICS__PORT), not the API's.
    roles = {"tokend", "broker", "telco-orange", "telco-vodafone", "vault", "gateway", "worker"}
    assert {f"{role}:9464" for role in roles} <= targets


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_required_alerts_exist_and_each_has_a_runbook_section() -> None:
    names = {rule["alert"] for rule in rules()}
    assert names >= REQUIRED_ALERTS
    doc = DOC.read_text(encoding="utf-8")
    for rule in rules():
        assert f"### {rule['alert']}\n" in doc, rule["alert"]
        assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(GRAFANA.glob("*.json"))
    }


def promql(dashboard: dict[str, Any]) -> list[str]:
    exprs: list[str] = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            source = target.get("datasource") or panel.get("datasource") or {}
            if source.get("type") == "prometheus":
                exprs.append(target["expr"])
    return exprs


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tokend_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's annotations
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_dashboards_are_generated_not_hand_edited() -> None:
    generator = _load_generator()
    for path, text in generator.rendered().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from deploy/grafana/dashboards.py: run it to regenerate"
        )
    names = set(dashboards())
    assert names >= {"overview.json", "oidc.json", "broker.json", "vault.json", "gateway.json"}
    assert names >= {"guard.json", "telco.json"}
    uids = [d["uid"] for d in dashboards().values()]
    assert len(uids) == len(set(uids))


def test_grafana_provisioning_names_the_datasources_the_dashboards_use() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yaml").read_text("utf-8")
    )
    uids = {source["uid"]: source["type"] for source in provisioned["datasources"]}
    assert uids == {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}
    for name, dashboard in dashboards().items():
        for panel in dashboard["panels"]:
            source = panel["datasource"]
            assert source["uid"] in uids or source["uid"] == "${datasource}", name
            assert uids.get(source["uid"], "prometheus") == source["type"], name


def _exported(exposition: str) -> set[str]:
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            names.update(family + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names


@pytest.fixture
def running_tokend(settings: Settings, demo_database_settings: DatabaseSettings) -> Iterator[str]:
    """Every capability with demo data, served on a free port (its demo operators are called
    over loopback HTTP, so it cannot be driven through an in-process transport)."""
    port = free_port()
    data = settings.model_dump(mode="python")
    data.update(
        demo_data=True, database=demo_database_settings, server={"host": "127.0.0.1", "port": port}
    )
    with serving(create_app(Settings.model_validate(data)), port=port) as base_url:
        yield base_url


async def test_every_metric_in_dashboards_and_rules_is_exported(running_tokend: str) -> None:
    used: dict[str, set[str]] = {}
    for name, dashboard in dashboards().items():
        found = {m for expr in promql(dashboard) for m in TOKEND_METRIC.findall(expr)}
        assert found, f"{name} queries no tokend metric"
        for metric in found:
            used.setdefault(metric, set()).add(name)
    for rule in rules():
        for metric in TOKEND_METRIC.findall(rule["expr"]):
            used.setdefault(metric, set()).add(f"rule {rule['alert']}")
    async with httpx.AsyncClient(base_url=running_tokend, timeout=10) as client:
        # Labelled series appear once used: a broker token issued, cached and refused, the
        # JWKS, a gateway token; families are listed by their `# TYPE` lines either way.
        for code in ("best_auth_demo", "best_auth_demo", "wrong"):
            await client.post(
                "/broker/api/demo/token",
                params={"mcc": "972", "sn": "0527464600"},
                data={"auth_code": code},
            )
        assert (await client.get("/.well-known/jwks.json")).status_code == 200
        gateway = await client.get("/gateway/tokens", headers={"apikey": DEMO_API_KEY})
        assert gateway.status_code == 200
        exposition = (await client.get("/metrics")).text
    exported = _exported(exposition)
    missing = {metric: sorted(where) for metric, where in used.items() if metric not in exported}
    assert not missing, f"used but not exported by tokend: {missing}"
    assert 'tokend_broker_tokens_total{operator="orange",outcome="cached"}' in exposition


def test_the_metric_name_pattern_finds_names_in_promql() -> None:
    expr = 'sum by (le) (rate(http_request_duration_seconds_bucket{route="/x"}[5m]))'
    assert TOKEND_METRIC.findall(expr) == ["http_request_duration_seconds_bucket"]
    assert _exported("# TYPE tokend_x_total counter\n# TYPE h histogram\n") == {
        "tokend_x_total",
        "h_bucket",
        "h_sum",
        "h_count",
    }
