"""SingleFlight: concurrent callers with one key share one computation."""

from __future__ import annotations

import asyncio

import pytest

from tokend.cache.single_flight import SingleFlight

CALLERS = 50


class Upstream:
    """Counts calls and holds each one until the test lets it finish."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def fetch(self) -> str:
        self.calls += 1
        await self.release.wait()
        return f"result-{self.calls}"

    async def fail(self) -> str:
        self.calls += 1
        await self.release.wait()
        raise LookupError("upstream said no")


async def until_all_waiting(steps: int = 10) -> None:
    for _ in range(steps):  # let every started task reach its first await
        await asyncio.sleep(0)


async def test_concurrent_callers_with_one_key_share_one_computation() -> None:
    flights, upstream = SingleFlight(), Upstream()
    callers = [asyncio.create_task(flights.run("k", upstream.fetch)) for _ in range(CALLERS)]
    await until_all_waiting()
    upstream.release.set()
    results = await asyncio.gather(*callers)
    assert upstream.calls == 1
    assert results == ["result-1"] * CALLERS


async def test_an_exception_reaches_every_waiter() -> None:
    flights, upstream = SingleFlight(), Upstream()
    callers = [asyncio.create_task(flights.run("k", upstream.fail)) for _ in range(CALLERS)]
    await until_all_waiting()
    upstream.release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert upstream.calls == 1
    assert all(isinstance(outcome, LookupError) for outcome in outcomes)


async def test_a_call_after_the_computation_ended_computes_again() -> None:
    flights, upstream = SingleFlight(), Upstream()
    upstream.release.set()
    assert await flights.run("k", upstream.fetch) == "result-1"
    assert await flights.run("k", upstream.fetch) == "result-2"
    with pytest.raises(LookupError, match="upstream said no"):
        await flights.run("k", upstream.fail)
    assert await flights.run("k", upstream.fetch) == "result-4"


async def test_different_keys_compute_separately() -> None:
    flights, upstream = SingleFlight(), Upstream()
    upstream.release.set()
    results = await asyncio.gather(
        flights.run("a", upstream.fetch), flights.run("b", upstream.fetch)
    )
    assert upstream.calls == 2
    assert sorted(results) == ["result-1", "result-2"]


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    flights, upstream = SingleFlight(), Upstream()
    first = asyncio.create_task(flights.run("k", upstream.fetch))
    second = asyncio.create_task(flights.run("k", upstream.fetch))
    await until_all_waiting()
    first.cancel()
    await until_all_waiting()
    upstream.release.set()
    assert await second == "result-1"
    assert first.cancelled()
