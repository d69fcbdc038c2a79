"""A recording in-memory cache and a background runner for the broker service tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from tokend.cache.memory import MemoryCache
from tokend.core.clock import Clock


class RecordingCache(MemoryCache):
    """The real in-memory ``Cache`` that also remembers each value and TTL written to it, so a
    test can read what the broker stored and for how long."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(max_items=1_000, clock=clock)
        self.writes: dict[str, tuple[bytes, float | None]] = {}

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self.writes[key] = (value, ttl_s)
        await super().set(key, value, ttl_s)


class TaskBackground:
    """Runs background writes as loop tasks (a task group cannot span a fixture's set-up and
    tear-down, which pytest-asyncio runs in different tasks)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def start_soon(self, func: Callable[[], Coroutine[Any, Any, None]]) -> object:
        task = asyncio.get_running_loop().create_task(func())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self) -> None:
        await asyncio.gather(*self.tasks)
