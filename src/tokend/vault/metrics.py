"""The vault's Prometheus metrics."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True, slots=True)
class VaultMetrics:
    refreshes: Counter
    refresh_duration: Histogram
    connections: Gauge
    webhooks: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> VaultMetrics:
        return cls(
            refreshes=Counter(
                "tokend_vault_refresh_total",
                "Token refreshes by provider and outcome.",
                ("provider", "outcome"),
                registry=registry,
            ),
            refresh_duration=Histogram(
                "tokend_vault_refresh_duration_seconds",
                "Time a refresh request to the provider took.",
                ("provider",),
                registry=registry,
            ),
            connections=Gauge(
                "tokend_vault_connections",
                "Stored connections by state, as of the last refresher sweep.",
                ("state",),
                registry=registry,
            ),
            webhooks=Counter(
                "tokend_vault_webhooks_total",
                "Webhook deliveries by outcome.",
                ("outcome",),
                registry=registry,
            ),
        )
