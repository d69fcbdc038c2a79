"""Tallies (``obs.metrics.counter`` / ``histogram`` in a one-process server) expose exactly what
prometheus-client's own Counter and Histogram expose for the same counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from tokend.obs.metrics import (
    LATENCY_BUCKETS_S,
    MULTIPROCESS_DIR,
    CounterTallies,
    HistogramTallies,
    counter,
    histogram,
)

LABELS = ("method", "route")
_CREATED = re.compile(rb"(_created\{[^}]*\}) [0-9.e+]+")


def _without_created_times(text: bytes) -> bytes:
    """The exposition with each ``_created`` sample's value (a clock reading) blanked."""
    return _CREATED.sub(rb"\1 T", text)


def _both(
    counts: list[tuple[str, str, float]], observations: list[tuple[str, str, float]]
) -> tuple[bytes, bytes]:
    library, ours = CollectorRegistry(), CollectorRegistry()
    lib_counter = Counter("http_requests_total", "Requests.", LABELS, registry=library)
    lib_histogram = Histogram(
        "http_request_duration_seconds", "Time.", LABELS, buckets=LATENCY_BUCKETS_S,
        registry=library,
    )  # fmt: skip
    our_counter = counter("http_requests_total", "Requests.", LABELS, ours)
    our_histogram = histogram(
        "http_request_duration_seconds", "Time.", LABELS, LATENCY_BUCKETS_S, ours
    )
    for method, route, amount in counts:
        lib_counter.labels(method, route).inc(amount)
        our_counter.labels(method, route).inc(amount)
    for method, route, seconds in observations:
        lib_histogram.labels(method, route).observe(seconds)
        our_histogram.labels(method, route).observe(seconds)
    return generate_latest(library), generate_latest(ours)


_label = st.sampled_from(["GET", "POST", "/token", "/health", 'a"b\\c'])
# Every bound itself, values between and beyond them, and zero.
_seconds = st.one_of(
    st.sampled_from([0.0, *LATENCY_BUCKETS_S]),
    st.floats(min_value=0, max_value=20, allow_nan=False),
)


@given(
    st.lists(st.tuples(_label, _label, st.floats(min_value=0, max_value=1e6)), max_size=8),
    st.lists(st.tuples(_label, _label, _seconds), max_size=30),
)
def test_the_exposition_is_prometheus_clients_for_the_same_counts(
    counts: list[tuple[str, str, float]], observations: list[tuple[str, str, float]]
) -> None:
    library, ours = _both(counts, observations)
    assert _without_created_times(ours) == _without_created_times(library)


def test_an_example_exposition_reads_as_expected() -> None:
    _library, ours = _both([("GET", "/health", 1), ("GET", "/health", 2)], [("GET", "/x", 0.005)])
    text = ours.decode()
    assert 'http_requests_total{method="GET",route="/health"} 3.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.0025",method="GET",route="/x"} 0.0' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="GET",route="/x"} 1.0' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/x"} 1.0' in text
    assert 'http_request_duration_seconds_count{method="GET",route="/x"} 1.0' in text


def test_tallies_refuse_what_prometheus_client_refuses() -> None:
    registry = CollectorRegistry()
    requests = counter("tokend_things_total", "Things.", ("kind",), registry)
    with pytest.raises(ValueError, match="non-negative"):
        requests.labels("a").inc(-1)
    with pytest.raises(ValueError, match="label values"):
        requests.labels("a", "b")
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        counter("tokend_things_total", "Things again.", ("kind",), registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Counter("tokend_things", "Things by the library.", ("kind",), registry=registry)


def test_a_worker_of_several_gets_prometheus_clients_own_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In multiprocess mode the collector reads the workers' files, where tallies are not."""
    registry = CollectorRegistry()
    assert isinstance(counter("a_total", "A.", (), registry), CounterTallies)
    assert isinstance(histogram("b_seconds", "B.", (), (1.0,), registry), HistogramTallies)
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path))
    shared = CollectorRegistry()
    assert isinstance(counter("a_total", "A.", (), shared), Counter)
    assert isinstance(histogram("b_seconds", "B.", (), (1.0,), shared), Histogram)
