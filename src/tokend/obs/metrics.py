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
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final, Generic, Protocol, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

C = TypeVar("C", covariant=True)

# Latency buckets tuned for a token service: most answers are sub-10 ms.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Labelled(Protocol[C]):
    """A labelled metric: prometheus-client's, or a :class:`Tallies`."""

    def labels(self, *values: str) -> C: ...


class CounterChild(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class HistogramChild(Protocol):
    def observe(self, amount: float) -> None: ...


class Children(Generic[C]):
    """A labelled metric's children, kept by label values: prometheus-client's ``labels()``
    validates and hashes its arguments under a lock on every call (~4% of a gateway token
    request, py-spy), and a hot path counts on every request. For label values of small,
    bounded sets (route templates, statuses, grant types, cache tiers)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Labelled[C]) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], C] = {}

    def __call__(self, *values: str) -> C:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class CounterTally:
    """A counter child's value in a plain float, read when scraped. prometheus-client's
    ``inc()`` checks the metric and takes a lock: 0.49 µs against 0.05 in a loop here, and a
    request counts three to seven times (its own counter and duration, each cache lookup, the
    token it issued). Changed only on the event loop's thread; a scrape from the metrics
    server's thread reads a float. Not for multiprocess mode (:func:`counter`)."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.value += amount


class HistogramTally:
    """A histogram child as plain numbers: the count of each bucket (the first bound not
    below the value, as prometheus-client's ``le``), and the sum; cumulated when scraped.
    Its ``observe()`` took 0.9 µs a request in a loop, this one 0.2 (see :class:`CounterTally`
    for what may change it)."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount


T = TypeVar("T", CounterTally, HistogramTally)


class Tallies(Generic[T]):
    """A labelled counter or histogram whose children are tallies, exposed by a collector of
    its own on the registry (prometheus-client's public way for values kept elsewhere) with
    the samples prometheus-client's metric of the same name gives (:class:`CounterTallies`,
    :class:`HistogramTallies`; ``tests/unit/obs/test_tallies.py`` compares the expositions)."""

    #: The family it is exposed as (a counter's drops a ``_total`` suffix from the name).
    family_type: ClassVar[type[CounterMetricFamily] | type[HistogramMetricFamily]]

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], make: Callable[[], T]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._make: Callable[[], T] = make
        self._children: dict[tuple[str, ...], T] = {}
        # Children are made rarely (hot paths keep theirs); a scrape copies them under it.
        self._lock = threading.Lock()

    def labels(self, *values: str) -> T:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected")
        key = tuple(str(value) for value in values)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._make()
        return child

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        with self._lock:
            children = list(self._children.items())
        created = prometheus_metrics._use_created  # the library's own switch (its env variable)
        for key, child in children:
            labels = dict(zip(self.labelnames, key, strict=True))
            self._add(family, labels, child)
            if created:
                family.add_sample(f"{family.name}_created", labels, child.created)
        return [family]

    def _family(self) -> Metric:
        return self.family_type(self.name, self.documentation, labels=self.labelnames)

    def _add(self, family: Metric, labels: dict[str, str], child: T) -> None:
        """The child's samples but ``_created``, in prometheus-client's order."""
        raise NotImplementedError


class CounterTallies(Tallies[CounterTally]):
    """``_total`` and ``_created`` per child, as prometheus-client's ``Counter``."""

    family_type = CounterMetricFamily

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        super().__init__(name, documentation, labelnames, CounterTally)

    def _add(self, family: Metric, labels: dict[str, str], child: CounterTally) -> None:
        family.add_sample(f"{family.name}_total", labels, child.value)


class HistogramTallies(Tallies[HistogramTally]):
    """``_bucket`` per ``le`` (cumulative, ``+Inf`` last), ``_count``, ``_sum`` and
    ``_created`` per child, as prometheus-client's ``Histogram``."""

    family_type = HistogramMetricFamily

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        bounds = tuple(sorted(float(bound) for bound in buckets if bound != float("inf")))
        self.les = [floatToGoString(bound) for bound in (*bounds, float("inf"))]  # type: ignore[no-untyped-call]
        super().__init__(name, documentation, labelnames, lambda: HistogramTally(bounds))

    def _add(self, family: Metric, labels: dict[str, str], child: HistogramTally) -> None:
        total = 0
        for le, count in zip(self.les, child.counts, strict=True):
            total += count
            family.add_sample(f"{family.name}_bucket", {**labels, "le": le}, float(total))
        family.add_sample(f"{family.name}_count", labels, float(total))
        family.add_sample(f"{family.name}_sum", labels, child.sum)


def counter(
    name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry
) -> Labelled[CounterChild]:
    """A labelled counter on ``registry``: prometheus-client's in multiprocess mode (whose
    collector reads the workers' files only), :class:`CounterTally` children otherwise."""
    if multiprocess_directory() is not None:
        return Counter(name, documentation, labelnames, registry=registry)
    tallies = CounterTallies(name, documentation, labelnames)
    registry.register(tallies)
    return tallies


def histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    buckets: Sequence[float],
    registry: CollectorRegistry,
) -> Labelled[HistogramChild]:
    """A labelled histogram, as :func:`counter` makes counters."""
    if multiprocess_directory() is not None:
        return Histogram(name, documentation, labelnames, buckets=buckets, registry=registry)
    tallies = HistogramTallies(name, documentation, labelnames, buckets)
    registry.register(tallies)
    return tallies


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
    requests: Labelled[CounterChild]
    duration: Labelled[HistogramChild]
    in_progress: Gauge
    #: The counter's and the histogram's children of one label set, found in one lookup
    #: (as :class:`Children` keeps them, for both at once).
    _answered: dict[tuple[str, str, str], tuple[CounterChild, HistogramChild]] = field(
        default_factory=dict
    )
    _in_flight: dict[str, InFlight] = field(default_factory=dict)

    def answered(self, method: str, route: str, status: str) -> tuple[CounterChild, HistogramChild]:
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
            requests=counter("http_requests_total", "HTTP requests answered.", labels, registry),
            duration=histogram(
                "http_request_duration_seconds",
                "Time to answer an HTTP request.",
                labels,
                LATENCY_BUCKETS_S,
                registry,
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
