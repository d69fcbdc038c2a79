"""Prometheus metrics: one registry per app, HTTP metrics labelled by route template, served
on the API's port behind a token or on a port of their own (``MetricsSettings``).

With several worker processes (``server.workers`` > 1) each worker keeps its values in files of
one directory made for the run (:func:`shared_metrics_directory`, prometheus-client's
multiprocess mode) and ``/metrics`` answers the sum over every worker, whichever one the scrape
reaches. Gauges carry a ``pid`` label then (but requests in flight, summed over live workers).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Generic, Protocol, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client.exposition import generate_latest

M = TypeVar("M", Counter, Gauge, Histogram)

# Latency buckets tuned for a token service: most answers are sub-10 ms.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Children(Generic[M]):
    """A labelled metric's children, kept by label values: prometheus-client's ``labels()``
    validates and hashes its arguments under a lock on every call (~4% of a gateway token
    request, py-spy), and a hot path counts on every request. For label values of small,
    bounded sets (route templates, statuses, grant types, cache tiers)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class LiveCount:
    """One gauge child's value kept in a plain int and read when scraped
    (``Gauge.set_function``): prometheus-client's ``inc()`` and ``dec()`` take a lock each,
    together about a microsecond of every request for the requests-in-flight gauge. Changed
    only on the event loop's thread; a scrape from the metrics server's thread reads an int.
    Not for multiprocess mode, whose collector reads values from the workers' files only."""

    __slots__ = ("value",)

    def __init__(self, gauge: Gauge) -> None:
        self.value = 0
        gauge.set_function(self.read)

    def read(self) -> float:
        return float(self.value)

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


class InFlight(Protocol):
    def inc(self) -> None: ...

    def dec(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    requests: Counter
    duration: Histogram
    in_progress: Gauge
    #: The counter's and the histogram's children of one label set, found in one lookup
    #: (as :class:`Children` keeps them, for both at once).
    _answered: dict[tuple[str, str, str], tuple[Counter, Histogram]] = field(default_factory=dict)
    _in_flight: dict[str, InFlight] = field(default_factory=dict)

    def answered(self, method: str, route: str, status: str) -> tuple[Counter, Histogram]:
        """The request counter and duration histogram of these label values."""
        key = (method, route, status)
        children = self._answered.get(key)
        if children is None:
            children = self._answered[key] = (
                self.requests.labels(*key),
                self.duration.labels(*key),
            )
        return children

    def in_flight(self, method: str) -> InFlight:
        """The requests-in-flight count of ``method`` (a fixed set of values)."""
        count = self._in_flight.get(method)
        if count is None:
            child = self.in_progress.labels(method)
            # Each worker's own value is summed from its file in multiprocess mode.
            shared = multiprocess_directory() is not None
            count = self._in_flight[method] = child if shared else LiveCount(child)
        return count

    @classmethod
    def register(cls, registry: CollectorRegistry) -> HttpMetrics:
        labels = ("method", "route", "status")
        return cls(
            requests=Counter(
                "http_requests_total", "HTTP requests answered.", labels, registry=registry
            ),
            duration=Histogram(
                "http_request_duration_seconds",
                "Time to answer an HTTP request.",
                labels,
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            # The route is known only once routing ran, so requests in flight are counted
            # per method; the template and status label the two series above.
            in_progress=Gauge(
                "http_requests_in_progress",
                "HTTP requests being answered.",
                ("method",),
                registry=registry,
                multiprocess_mode="livesum",
            ),
        )


#: prometheus-client's own variable: where the workers of a multi-process server keep values.
MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_directory() -> str | None:
    """The run's shared metrics directory when this process is one of several workers."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def new_registry() -> CollectorRegistry:
    if multiprocess_directory() is not None:
        # prometheus-client picks file-backed values when it is imported; a worker may have
        # imported it before the variable was set (forked from the server's parent), so it is
        # picked again here, before this app's first metric.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> bytes:
    """The text ``/metrics`` answers: ``registry``'s, or every worker's in multiprocess mode."""
    directory = multiprocess_directory()
    if directory is None:
        return generate_latest(registry)
    shared = CollectorRegistry()
    multiprocess.MultiProcessCollector(shared, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(shared)


def worker_stopped() -> None:
    """Drop this worker's live gauges (requests in flight) from the shared directory."""
    directory = multiprocess_directory()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


@contextmanager
def shared_metrics_directory() -> Iterator[Path]:
    """A directory of its own for this run's workers' metric files, named in the environment
    they inherit, removed when the server stops. On tmpfs (``/dev/shm``) where there is one:
    every increment writes to a memory-mapped file there."""
    shm = Path("/dev/shm")  # noqa: S108  (a directory of our own is made inside it, mode 0700)
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="tokend-metrics-", dir=base))
    os.environ[MULTIPROCESS_DIR] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_DIR, None)
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def serving_metrics(registry: CollectorRegistry, host: str, port: int | None) -> Iterator[None]:
    """``registry`` served on ``host:port`` (every path answers the metrics) from a thread until
    the block ends; nothing when ``port`` is None. prometheus_client's own HTTP server: no
    request on the API's event loop waits for a scrape."""
    if port is None:
        yield
        return
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
