"""The overview's figures and charts come from the Prometheus registry the server exports."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from tokend.console.pages.overview import bars, breaker_states, figures
from tokend.core.breaker import breaker_gauge


def test_figures_sum_requests_count_server_errors_and_name_open_breakers() -> None:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "r", ["method", "route", "status"], registry=registry)
    requests.labels("GET", "/a", "200").inc(5)
    requests.labels("GET", "/b", "503").inc(2)
    breaker_gauge(registry).labels("gateway:kong").set(1)
    breaker_gauge(registry).labels("broker:orange").set(0)
    shown = {figure.label: figure.value for figure in figures(registry)}
    assert shown["HTTP requests"] == "7"
    assert shown["Server errors (5xx)"] == "2"
    assert shown["Circuit breakers not closed"] == "gateway:kong"


def test_bars_rank_by_count_relative_to_the_largest() -> None:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "r", ["method", "route", "status"], registry=registry)
    requests.labels("GET", "/a", "200").inc(4)
    requests.labels("POST", "/a", "200").inc(4)
    requests.labels("GET", "/b", "200").inc(2)
    chart = bars(registry, "http_requests_total", "route")
    assert [(bar.label, bar.value, bar.share) for bar in chart] == [
        ("/a", 8.0, 100.0),
        ("/b", 2.0, 25.0),
    ]


def test_breaker_states_name_each_upstreams_state() -> None:
    registry = CollectorRegistry()
    gauge = breaker_gauge(registry)
    gauge.labels("broker:orange").set(1)
    gauge.labels("broker:vodafone").set(2)
    gauge.labels("gateway:kong").set(0)
    assert breaker_states(registry) == {
        "broker:orange": "open",
        "broker:vodafone": "half-open",
        "gateway:kong": "closed",
    }
