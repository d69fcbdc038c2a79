"""The gateway's domain metrics: seed 004's names in Prometheus form (seconds, ``tokend_``).

seed 004 → here: ``http_request_duration_ms`` → the spine's ``http_request_duration_seconds``
(route ``/tokens``); ``jwt_creation_duration_ms`` → ``tokend_jwt_creation_duration_seconds``;
``kong_api_call_duration_ms`` → ``tokend_kong_api_call_duration_seconds``; ``cache_hit_rate``
→ ``tokend_gateway_cache_requests_total{result}`` (hit / miss / stale);
``circuit_breaker_state`` → the spine's ``tokend_circuit_breaker_state{upstream="gateway:kong"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram

from tokend.obs.metrics import (
    LATENCY_BUCKETS_S,
    CounterChild,
    HistogramChild,
    Labelled,
    counter,
    histogram,
)

CacheResult = Literal["hit", "miss", "stale"]
SourceOutcome = Literal["ok", "not_found", "error", "timeout", "unreachable"]
TokenOutcome = Literal["issued", "degraded"]

#: Every metric name this module exports (the README's metrics table lists them).
METRIC_NAMES: Final = (
    "tokend_jwt_creation_duration_seconds",
    "tokend_kong_api_call_duration_seconds",
    "tokend_gateway_cache_requests_total",
    "tokend_gateway_tokens_total",
    "tokend_gateway_degraded_total",
)

_JWT_BUCKETS_S: Final = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01)


@dataclass(frozen=True, slots=True)
class GatewayMetrics:
    jwt_creation: Labelled[HistogramChild]
    source_calls: Histogram
    cache: Labelled[CounterChild]
    tokens: Labelled[CounterChild]
    degraded: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> GatewayMetrics:
        metrics = cls(
            jwt_creation=histogram(
                "tokend_jwt_creation_duration_seconds",
                "Time to build and sign a gateway JWT.",
                ("alg",),
                _JWT_BUCKETS_S,
                registry,
            ),
            source_calls=Histogram(
                "tokend_kong_api_call_duration_seconds",
                "Time the consumer source (Kong Admin API, Konnect, local table) took to answer.",
                ("source", "operation", "outcome"),
                buckets=LATENCY_BUCKETS_S,
                registry=registry,
            ),
            cache=counter(
                "tokend_gateway_cache_requests",
                "Consumer secret lookups in the cache: hit (fresh), stale, miss.",
                ("result",),
                registry,
            ),
            tokens=counter(
                "tokend_gateway_tokens",
                "Tokens issued (degraded: signed with a stale secret while the source was down).",
                ("outcome",),
                registry,
            ),
            degraded=Counter(
                "tokend_gateway_degraded",
                "Requests served with a stale secret because the consumer source was down.",
                ("source",),
                registry=registry,
            ),
        )
        for result in get_args(CacheResult):  # exported at 0 from the start, so ratios exist
            metrics.cache.labels(result)
        for outcome in get_args(TokenOutcome):
            metrics.tokens.labels(outcome)
        return metrics
