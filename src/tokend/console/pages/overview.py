"""The overview: what this process runs (capabilities, database, cache, job runner) and live
figures read from the Prometheus registry the server already exports at ``/metrics``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response

from tokend.console.web import Console


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    value: str


def figures(registry: CollectorRegistry) -> list[Figure]:
    """Totals of the metrics an operator looks at first, summed over their labels."""
    sums: dict[str, float] = {}
    errors = 0.0
    breakers: list[str] = []
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
            status = str(sample.labels.get("status", ""))
            if sample.name == "http_requests_total" and status.startswith("5"):
                errors += sample.value
            if sample.name == "tokend_circuit_breaker_state" and sample.value:
                breakers.append(str(sample.labels.get("upstream", "?")))
    wanted = (
        ("HTTP requests", "http_requests_total"),
        ("Access tokens issued (OIDC)", "tokend_tokens_issued_total"),
        ("Authentication events", "identity_auth_events_total"),
        ("Console actions", "tokend_console_actions_total"),
    )
    shown = [Figure(label, f"{sums.get(name, 0.0):.0f}") for label, name in wanted]
    shown.insert(1, Figure("Server errors (5xx)", f"{errors:.0f}"))
    shown.append(Figure("Circuit breakers not closed", ", ".join(breakers) or "none"))
    return shown


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    #: Width in per cent of the largest bar of its chart.
    share: float


_BREAKER_STATES = {0: "closed", 1: "open", 2: "half-open"}


def breaker_states(registry: CollectorRegistry) -> dict[str, str]:
    """Each upstream's circuit breaker (``tokend_circuit_breaker_state``), by upstream name."""
    states: dict[str, str] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "tokend_circuit_breaker_state":
                upstream = str(sample.labels.get("upstream", "?"))
                states[upstream] = _BREAKER_STATES.get(int(sample.value), "unknown")
    return states


def bars(registry: CollectorRegistry, metric: str, label: str, top: int = 8) -> list[Bar]:
    """``metric`` summed by ``label``, largest first: the data of one small bar chart."""
    totals: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == metric:
                key = str(sample.labels.get(label, "?"))
                totals[key] = totals.get(key, 0.0) + sample.value
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    largest = max((value for _, value in ranked), default=0.0) or 1.0
    return [Bar(name, value, round(100 * value / largest, 1)) for name, value in ranked]


def overview_router(
    console: Console,
    modules: Sequence[str],
    checks: Callable[[], Awaitable[Mapping[str, str]]],
    registry: CollectorRegistry,
    health: Sequence[Callable[[], Mapping[str, object]]] = (),
) -> APIRouter:
    router = console.router()

    @router.get("/console")
    async def overview(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        return console.render(
            admin, "overview.html", modules=modules, checks=await checks(),
            figures=figures(registry),
            # What the capabilities add to /health: upstream sources and their breakers.
            health=[(name, value) for details in health for name, value in details().items()],
            breakers=breaker_states(registry),
            charts=(
                ("Requests by route", bars(registry, "http_requests_total", "route")),
                ("Access tokens by grant", bars(registry, "tokend_tokens_issued_total", "grant")),
            ),
        )  # fmt: skip

    return router
