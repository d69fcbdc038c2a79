"""One computation per key at a time in this process; concurrent callers share its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class SingleFlight:
    """``await flights.run(key, work)``: callers that come while ``work`` runs wait for it.

    The work runs in a task of its own, so a caller that gives up (a client disconnecting
    cancels its request) cancels only its own wait, never the others' result. An exception
    reaches every waiter. The key is forgotten as soon as the work ends: this shares work in
    flight, it does not cache results.
    """

    def __init__(self) -> None:
        # Tasks of different result types share the dict; run() knows its T.
        self._flights: dict[str, asyncio.Task[Any]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is None or flight.done():
            flight = asyncio.get_running_loop().create_task(_awaited(work()))
            self._flights[key] = flight
            # Registered before any waiter's callback, so the key is gone by the time the
            # first waiter resumes and its next call computes afresh.
            flight.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(cast("asyncio.Task[T]", flight))

    def _forget(self, key: str, done: asyncio.Task[Any]) -> None:
        if self._flights.get(key) is done:
            del self._flights[key]
        # Mark the outcome retrieved: if every waiter was cancelled, nobody else reads it,
        # and asyncio would log "exception was never retrieved".
        if not done.cancelled():
            done.exception()


async def _awaited(work: Awaitable[T]) -> T:
    return await work
