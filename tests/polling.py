"""Waiting in tests for something that gives no event to await: poll it until a deadline.

A test that sleeps a fixed time and then checks is slow when the time is long and flaky when
it is short; this returns as soon as the condition holds and fails, naming it, when it never
does.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def eventually(
    condition: Callable[[], bool], within_s: float = 5.0, every_s: float = 0.01
) -> None:
    """Return once ``condition()`` holds; fail the test if it still does not after ``within_s``."""
    deadline = anyio.current_time() + within_s
    while not condition():
        if anyio.current_time() > deadline:
            name = getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"{name} did not hold within {within_s} s")
        await anyio.sleep(every_s)
