"""Generates tokend's Grafana dashboards (overview + one per capability) as JSON files here.

    python deploy/grafana/dashboards.py          # rewrite the JSON files
    python deploy/grafana/dashboards.py --check  # exit 1 if a file differs from what this makes

The files are generated, never edited by hand: tests/deploy checks they match this script and
that every metric their queries use is exported by tokend. ``broker.json`` is kept by the broker
capability itself (tests/api/broker/test_dashboard.py) and is not generated here.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
LOKI = {"type": "loki", "uid": "loki"}
RATE = "[$__rate_interval]"
NOT_METRICS = 'route!="/metrics"'


@dataclass(frozen=True)
class Panel:
    title: str
    targets: list[tuple[str, str]]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    options: dict[str, object] = field(default_factory=dict)


def quantiles(selector: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le, {by}" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) "
            f"(rate(http_request_duration_seconds_bucket{{{selector}}}{RATE})))",
            f"{prefix}p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def requests_by_status(selector: str) -> Panel:
    return Panel(
        "Requests per second by route and status",
        [
            (
                f"sum by (route, status) (rate(http_requests_total{{{selector}}}{RATE}))",
                "{{route}} {{status}}",
            )
        ],
        "reqps",
    )


def breaker(upstreams: str) -> Panel:
    return Panel(
        "Circuit breaker state (0 closed, 1 open, 2 half-open)",
        [
            (
                "max by (role, upstream) "
                f'(tokend_circuit_breaker_state{{upstream=~"{upstreams}"}})',
                "{{role}} {{upstream}}",
            )
        ],
    )


DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "overview": (
        "tokend — overview",
        [
            Panel(
                "Requests per second by role",
                [(f"sum by (role) (rate(http_requests_total{{{NOT_METRICS}}}{RATE}))", "{{role}}")],
                "reqps",
            ),
            Panel(
                "5xx error ratio by role",
                [
                    (
                        # "or … * 0": a role without any 5xx shows 0, not "No data".
                        f'(sum by (role) (rate(http_requests_total{{status=~"5.."}}{RATE})) or '
                        f"sum by (role) (rate(http_requests_total{RATE})) * 0) / "
                        f"sum by (role) (rate(http_requests_total{RATE}))",
                        "{{role}}",
                    )
                ],
                "percentunit",
            ),
            Panel("Latency p50 / p95 / p99 (all roles)", quantiles(NOT_METRICS), "s"),
            Panel(
                "Requests in flight",
                [("sum by (role) (http_requests_in_progress)", "{{role}}")],
            ),
            Panel(
                "Targets up",
                [('up{job=~"tokend|tokend-worker"}', "{{role}} {{instance}}")],
            ),
            breaker(".+"),
            Panel(
                "Cache lookups by tier and result",
                [
                    (
                        f"sum by (tier, result) (rate(tokend_cache_requests_total{RATE}))",
                        "{{tier}} {{result}}",
                    )
                ],
                "ops",
            ),
            Panel(
                "Redis degraded (1: memory tier alone)",
                [("max by (role, instance) (tokend_cache_degraded)", "{{role}} {{instance}}")],
            ),
            Panel(
                "Background jobs by outcome",
                [
                    (
                        f"sum by (exported_job, outcome) (rate(tokend_jobs_total{RATE}))",
                        "{{exported_job}} {{outcome}}",
                    )
                ],
                "ops",
            ),
            Panel(
                "Warnings and errors (Loki)",
                [('{service=~".+"} | json | level=~"warning|error|critical"', "")],
                kind="logs",
                width=24,
            ),
        ],
    ),
    "oidc": (
        "tokend — OpenID provider",
        [
            requests_by_status(
                'route=~"/(authorize|token|userinfo|introspect|revoke|logout|'
                'login|consent|register|account).*"'
            ),
            Panel("Token endpoint latency p50 / p95 / p99", quantiles('route="/token"'), "s"),
            Panel(
                "Access tokens issued by grant",
                [(f"sum by (grant) (rate(tokend_tokens_issued_total{RATE}))", "{{grant}}")],
                "ops",
            ),
            Panel(
                "Authentication events",
                [(f"sum by (event) (rate(identity_auth_events_total{RATE}))", "{{event}}")],
                "ops",
            ),
            Panel(
                "JWKS requests by status",
                [
                    (
                        "sum by (status) (rate(http_requests_total"
                        f'{{route="/.well-known/jwks.json"}}{RATE}))',
                        "{{status}}",
                    )
                ],
                "reqps",
            ),
        ],
    ),
    "telco": (
        "tokend — telco operators",
        [
            Panel(
                "Operator tokens by operator and outcome",
                [
                    (
                        f"sum by (operator, outcome) (rate(tokend_telco_tokens_total{RATE}))",
                        "{{operator}} {{outcome}}",
                    )
                ],
                "ops",
            ),
            Panel(
                "Operator token latency p50 / p95 / p99",
                quantiles('role=~"telco|all-in-one", route=~"(/telcos/[^/]+)?/api/demo/token"'),
                "s",
            ),
            requests_by_status('role="telco"'),
        ],
    ),
    "vault": (
        "tokend — token vault",
        [
            requests_by_status(
                'route=~"/vault/.*|/(clients|branches|oauth|auth/callback|tokens)(/.*)?"'
            ),
            Panel(
                "Refreshes by provider and outcome",
                [
                    (
                        f"sum by (provider, outcome) (rate(tokend_vault_refresh_total{RATE}))",
                        "{{provider}} {{outcome}}",
                    )
                ],
                "ops",
            ),
            Panel(
                "Refresh latency p95 by provider",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, provider) "
                        f"(rate(tokend_vault_refresh_duration_seconds_bucket{RATE})))",
                        "{{provider}}",
                    )
                ],
                "s",
            ),
            Panel(
                "Connections by state",
                [("sum by (state) (tokend_vault_connections)", "{{state}}")],
            ),
            Panel(
                "Webhook deliveries by outcome",
                [
                    (
                        f"sum by (outcome) (rate(tokend_vault_webhooks_total{RATE}))",
                        "{{outcome}}",
                    )
                ],
                "ops",
            ),
            breaker("vault.*"),
        ],
    ),
    "gateway": (
        "tokend — API-key gateway",
        [
            requests_by_status('route=~"(/gateway)?/tokens.*"'),
            Panel(
                "Tokens by outcome",
                [(f"sum by (outcome) (rate(tokend_gateway_tokens_total{RATE}))", "{{outcome}}")],
                "ops",
            ),
            Panel(
                "Consumer secret cache: fresh / stale / miss",
                [
                    (
                        f"sum by (result) (rate(tokend_gateway_cache_requests_total{RATE}))",
                        "{{result}}",
                    )
                ],
                "ops",
            ),
            Panel(
                "Degraded (stale secret) by source",
                [(f"sum by (source) (rate(tokend_gateway_degraded_total{RATE}))", "{{source}}")],
                "ops",
            ),
            Panel(
                "Consumer source latency p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, source, outcome) "
                        f"(rate(tokend_kong_api_call_duration_seconds_bucket{RATE})))",
                        "{{source}} {{outcome}}",
                    )
                ],
                "s",
            ),
            Panel(
                "JWT signing p99",
                [
                    (
                        "histogram_quantile(0.99, sum by (le, alg) "
                        f"(rate(tokend_jwt_creation_duration_seconds_bucket{RATE})))",
                        "{{alg}}",
                    )
                ],
                "s",
            ),
            breaker("gateway:.*"),
        ],
    ),
    "guard": (
        "tokend — guard",
        [
            requests_by_status('route=~"(/guard)?/(auth|cache|users|me).*"'),
            Panel(
                "Guard latency p50 / p95 / p99",
                quantiles('route=~"(/guard)?/(auth|cache|users|me).*"'),
                "s",
            ),
            Panel(
                "401 / 403 answers per second",
                [
                    (
                        'sum by (route, status) (rate(http_requests_total{status=~"401|403", '
                        f'route=~"(/guard)?/.*"}}{RATE}))',
                        "{{route}} {{status}}",
                    )
                ],
                "reqps",
            ),
            breaker("keycloak.*"),
        ],
    ),
}


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, object]:
    is_logs = panel.kind == "logs"
    body: dict[str, object] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": LOKI if is_logs else PROMETHEUS,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": LOKI if is_logs else PROMETHEUS,
                "expr": expr,
                **({"legendFormat": legend} if legend else {}),
            }
            for i, (expr, legend) in enumerate(panel.targets)
        ],
        "options": panel.options,
    }
    if not is_logs:
        body["fieldConfig"] = {"defaults": {"unit": panel.unit}, "overrides": []}
    return body


def dashboard_json(name: str, title: str, panels: list[Panel]) -> dict[str, object]:
    placed: list[dict[str, object]] = []
    x = y = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        placed.append(panel_json(panel, number, x, y))
        x += panel.width
    return {
        "uid": f"tokend-{name}",
        "title": title,
        "tags": ["tokend", name],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": placed,
    }


def rendered() -> dict[Path, str]:
    """Each dashboard file and the text it must hold."""
    return {
        HERE / f"{name}.json": json.dumps(dashboard_json(name, title, panels), indent=2) + "\n"
        for name, (title, panels) in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    stale = [path for path, text in rendered().items() if not _holds(path, text)]
    if "--check" in argv:
        for path in stale:
            print(f"{path.name} is out of date: run python deploy/grafana/dashboards.py")
        return 1 if stale else 0
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
    return 0


def _holds(path: Path, text: str) -> bool:
    return path.exists() and path.read_text(encoding="utf-8") == text


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
