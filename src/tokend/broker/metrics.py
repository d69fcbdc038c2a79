"""The broker's domain metrics, registered on the app's registry (never the global one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Histogram

from tokend.obs.metrics import LATENCY_BUCKETS_S, Children, CounterChild, Labelled, counter

UpstreamOutcome = Literal["ok", "rejected", "error", "timeout", "unreachable", "circuit_open"]
TokenOutcome = Literal["issued", "cached", "rejected", "unavailable", "not_found"]
CacheKind = Literal["broker", "operator"]

#: Every metric name this module exports; the Grafana dashboard test checks against it.
METRIC_NAMES: Final = (
    "tokend_broker_upstream_duration_seconds",
    "tokend_broker_tokens_total",
    "tokend_broker_cache_hits_total",
    "tokend_broker_cache_misses_total",
)


@dataclass(frozen=True, slots=True)
class BrokerMetrics:
    upstream_duration: Histogram
    tokens: Labelled[CounterChild]
    cache_hits: Labelled[CounterChild]
    cache_misses: Labelled[CounterChild]
    # The children counted on every request (labels() per call was 2-3% of a cached broker
    # token, py-spy): operators are the directory's, outcomes and kinds the literals above.
    _tokens: Children[CounterChild] = field(init=False, repr=False, compare=False)
    _hits: Children[CounterChild] = field(init=False, repr=False, compare=False)
    _misses: Children[CounterChild] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tokens", Children(self.tokens))
        object.__setattr__(self, "_hits", Children(self.cache_hits))
        object.__setattr__(self, "_misses", Children(self.cache_misses))

    @classmethod
    def register(cls, registry: CollectorRegistry) -> BrokerMetrics:
        metrics = cls(
            upstream_duration=Histogram(
                "tokend_broker_upstream_duration_seconds",
                "Time an operator took to answer a token request.",
                ("operator", "outcome"),
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            tokens=counter(
                "tokend_broker_tokens",
                "Broker token requests by operator and outcome.",
                ("operator", "outcome"),
                registry,
            ),
            cache_hits=counter(
                "tokend_broker_cache_hits",
                "Tokens served from the cache.",
                ("kind",),
                registry,
            ),
            cache_misses=counter(
                "tokend_broker_cache_misses",
                "Token cache lookups that found nothing.",
                ("kind",),
                registry,
            ),
        )
        for kind in get_args(CacheKind):  # exported at 0 from the start, so ratios exist
            metrics._hits(kind)
            metrics._misses(kind)
        return metrics

    def count_token(self, operator: str, outcome: TokenOutcome) -> None:
        self._tokens(operator, outcome).inc()

    def count_cache(self, kind: CacheKind, *, hit: bool) -> None:
        (self._hits if hit else self._misses)(kind).inc()
