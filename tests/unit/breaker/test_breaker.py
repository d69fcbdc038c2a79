from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tokend.core.breaker import (
    BreakerOpen,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    breaker_gauge,
)
from tokend.core.clock import FrozenClock
from tokend.obs.metrics import new_registry

POLICY = BreakerPolicy(failure_ratio=0.5, min_calls=4, window=10, reset_after_s=60)


def make() -> tuple[CircuitBreaker, FrozenClock, CollectorRegistry]:
    clock = FrozenClock()
    registry = new_registry()
    return CircuitBreaker("kong", POLICY, clock, breaker_gauge(registry)), clock, registry


async def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError, match="upstream refused"):
        async with breaker.call():
            raise ConnectionError("upstream refused")


async def succeed(breaker: CircuitBreaker) -> None:
    async with breaker.call():
        pass


async def test_stays_closed_below_the_minimum_number_of_calls() -> None:
    breaker, _, _ = make()
    for _ in range(3):
        await fail(breaker)
    assert breaker.state is BreakerState.CLOSED


async def test_opens_at_the_failure_ratio_and_refuses_calls_with_retry_after() -> None:
    breaker, _, registry = make()
    await succeed(breaker)
    await succeed(breaker)
    await fail(breaker)
    await fail(breaker)  # 2 of 4 failed: ratio 0.5 reached
    assert breaker.state is BreakerState.OPEN
    assert registry.get_sample_value("tokend_circuit_breaker_state", {"upstream": "kong"}) == 1
    with pytest.raises(BreakerOpen) as refused:
        await succeed(breaker)
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "60"
    # The breaker's name is for logs and metrics; the answer a client sees does not carry it.
    assert "kong" not in refused.value.description
    assert refused.value.internal == "kong: circuit open"


async def test_half_open_after_the_reset_time_then_closes_on_success() -> None:
    breaker, clock, registry = make()
    for _ in range(4):
        await fail(breaker)
    clock.advance(59)
    assert breaker.state is BreakerState.OPEN
    clock.advance(1)
    # mypy keeps the narrowing from the line above, but state is a property the clock just moved.
    assert breaker.state is BreakerState.HALF_OPEN  # type: ignore[comparison-overlap]
    assert registry.get_sample_value("tokend_circuit_breaker_state", {"upstream": "kong"}) == 2
    await succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert registry.get_sample_value("tokend_circuit_breaker_state", {"upstream": "kong"}) == 0


async def test_a_failed_trial_opens_again_and_only_one_trial_goes_through() -> None:
    breaker, clock, _ = make()
    for _ in range(4):
        await fail(breaker)
    clock.advance(60)
    assert breaker.allow() is True
    assert breaker.allow() is False  # the second caller waits for the trial's outcome
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


async def test_answers_that_are_not_exceptions_count_as_success() -> None:
    breaker, _, _ = make()
    for _ in range(10):
        async with breaker.call():
            status = 404  # the upstream answered; "not found" is not an outage
        assert status == 404
    assert breaker.state is BreakerState.CLOSED
    assert breaker.last_success_at is not None


def test_every_capability_shares_one_breaker_gauge_per_registry() -> None:
    registry = new_registry()
    assert breaker_gauge(registry) is breaker_gauge(registry)
    assert breaker_gauge(new_registry()) is not breaker_gauge(registry)
