"""Calling an operator safely: its timeout, one retry on connection errors, its breaker, metrics.

DESIGN "Cache, jobs, upstreams": explicit timeouts, retries only where idempotent, a breaker per
upstream. An auth code exchange is not idempotent (the code is one-time), so only errors raised
before the request left (connect refused or timed out) are retried, once.
"""

from __future__ import annotations

import time
from typing import Final

import anyio
import httpx
import structlog
from prometheus_client import Gauge

from tokend.broker.adapters import ADAPTERS
from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.errors import UPSTREAM_REFUSALS, UpstreamFailed
from tokend.broker.metrics import BrokerMetrics, UpstreamOutcome
from tokend.broker.settings import BrokerSettings
from tokend.broker.upstream import OperatorToken, UpstreamCall
from tokend.core.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker
from tokend.core.clock import Clock
from tokend.core.errors import TokendError
from tokend.core.http import GuardedClient

log = structlog.get_logger("tokend.broker.upstream")

RETRIED: Final = (httpx.ConnectError, httpx.ConnectTimeout)


class OperatorClient:
    def __init__(
        self,
        http: GuardedClient,
        settings: BrokerSettings,
        clock: Clock,
        metrics: BrokerMetrics,
        breaker_gauge: Gauge | None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self._gauge = breaker_gauge
        self._policy = BreakerPolicy(
            failure_ratio=settings.breaker_failure_ratio,
            min_calls=settings.breaker_min_calls,
            reset_after_s=settings.breaker_reset_after_s,
        )
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, operator_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(operator_id)
        if breaker is None:
            name = f"broker:{operator_id}"
            breaker = CircuitBreaker(name, self._policy, self._clock, self._gauge)
            self._breakers[operator_id] = breaker
        return breaker

    async def fetch(self, entry: TelcoEntry, mcc: str, sn: str, auth_code: str) -> OperatorToken:
        """The operator's token; UpstreamRejected/BadRequest if it refused, 503 errors otherwise."""
        timeout_s = entry.timeout_s or self._settings.default_timeout_s
        call = UpstreamCall(
            entry, mcc, sn, auth_code, self._http, httpx.Timeout(timeout_s), self._clock.now()
        )
        breaker = self.breaker(entry.operator_id)
        started = time.perf_counter()
        outcome: UpstreamOutcome = "error"
        refused: TokendError | None = None
        try:
            async with breaker.call():
                try:
                    with anyio.fail_after(timeout_s):
                        token = await self._attempt(call)
                    outcome = "ok"
                except UPSTREAM_REFUSALS as exc:  # the operator answered: healthy, not a failure
                    refused, outcome = exc, "rejected"
        except BreakerOpen:
            outcome = "circuit_open"
            raise UpstreamFailed(
                internal=f"{entry.operator_id} is unavailable (circuit open)",
                headers={"Retry-After": str(breaker.retry_after_s())},
            ) from None
        except TimeoutError:
            outcome = "timeout"
            raise UpstreamFailed(
                internal=f"{entry.operator_id} did not answer within {timeout_s:g} s"
            ) from None
        except httpx.TimeoutException:
            outcome = "timeout"
            raise UpstreamFailed(internal=f"{entry.operator_id} timed out") from None
        except httpx.TransportError as exc:
            outcome = "unreachable"
            raise UpstreamFailed(
                internal=f"{entry.operator_id} is unreachable ({type(exc).__name__})"
            ) from None
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.upstream_duration.labels(entry.operator_id, outcome).observe(elapsed)
        if refused is not None:
            raise refused
        return token

    async def _attempt(self, call: UpstreamCall) -> OperatorToken:
        adapter = ADAPTERS[call.entry.adapter]
        try:
            return await adapter.fetch_token(call)
        except RETRIED as exc:
            log.info(
                "broker.upstream.retry", operator=call.entry.operator_id, error=type(exc).__name__
            )
            return await adapter.fetch_token(call)
