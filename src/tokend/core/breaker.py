"""A circuit breaker per upstream (telco, OAuth provider, Kong, Keycloak).

closed: calls go through; the outcomes of the last ``window`` calls are kept. When at least
``min_calls`` are recorded and the failure ratio reaches ``failure_ratio``, it opens.
open: calls are refused at once (``BreakerOpen``) for ``reset_after_s``.
half-open: up to ``half_open_calls`` trial calls go through; a success closes the breaker,
a failure opens it again.

Written here rather than taken from a library: the maintained Python breakers (pybreaker,
aiobreaker, purgatory) either count consecutive failures only or are sync-first, and we need a
failure *ratio* over a window, an injected clock for tests, and a Prometheus state gauge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Gauge

from tokend.core.clock import Clock
from tokend.core.errors import ServiceUnavailable


class BreakerState(IntEnum):
    """Numeric values are what the ``tokend_circuit_breaker_state`` gauge reports."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_ratio: float = 0.5
    min_calls: int = 5
    window: int = 20
    reset_after_s: float = 60.0
    half_open_calls: int = 1


class BreakerOpen(ServiceUnavailable):
    """Raised instead of calling an upstream whose breaker is open."""

    default_description = "The upstream service is unavailable; try again later."


_GAUGES: WeakKeyDictionary[CollectorRegistry, Gauge] = WeakKeyDictionary()


def breaker_gauge(registry: CollectorRegistry) -> Gauge:
    """The one breaker-state gauge of ``registry``: every capability with an upstream shares it
    (a registry refuses a second collector with the same name)."""
    gauge = _GAUGES.get(registry)
    if gauge is None:
        gauge = _GAUGES[registry] = Gauge(
            "tokend_circuit_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 open, 2 half-open.",
            ("upstream",),
            registry=registry,
        )
    return gauge


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        clock: Clock,
        gauge: Gauge | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._gauge = gauge.labels(name) if gauge is not None else None
        self._outcomes: deque[bool] = deque(maxlen=policy.window)
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trials = 0
        self.last_success_at: float | None = None
        self._report()

    @property
    def state(self) -> BreakerState:
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() - self._opened_at >= self.policy.reset_after_s
        ):
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def retry_after_s(self) -> int:
        """Seconds until a trial call will be let through (for ``Retry-After``)."""
        if self.state is not BreakerState.OPEN:
            return 0
        remaining = self.policy.reset_after_s - (self._clock.monotonic() - self._opened_at)
        return max(1, int(remaining + 0.999))

    def allow(self) -> bool:
        """True when a call may go out now; counts half-open trials."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._trials < self.policy.half_open_calls:
            self._trials += 1
            return True
        return False

    def record_success(self) -> None:
        self.last_success_at = self._clock.monotonic()
        if self._state is BreakerState.HALF_OPEN:
            self._outcomes.clear()
            self._move(BreakerState.CLOSED)
        self._outcomes.append(True)

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._outcomes.append(False)
        calls = len(self._outcomes)
        failures = calls - sum(self._outcomes)
        if calls >= self.policy.min_calls and failures / calls >= self.policy.failure_ratio:
            self._open()

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Guard one upstream call: refuse it when open, record how it went otherwise.

        Only exceptions escaping the block count as failures; an upstream that answered
        (even "not found") is healthy, so callers raise after the block for such answers.
        """
        if not self.allow():
            # The breaker's name is ours, not the caller's business: it stays in ``internal``.
            raise BreakerOpen(
                internal=f"{self.name}: circuit open",
                headers={"Retry-After": str(self.retry_after_s())},
            )
        try:
            yield
        except Exception:  # cancellation is not the upstream's fault: it passes uncounted
            self.record_failure()
            raise
        self.record_success()

    def _open(self) -> None:
        self._opened_at = self._clock.monotonic()
        self._outcomes.clear()
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        self._state = state
        self._trials = 0
        self._report()

    def _report(self) -> None:
        if self._gauge is not None:
            self._gauge.set(int(self._state))
