"""Embedded mode: jobs run as tasks on this process's event loop, with no queue to operate.

What is queued lives in memory: a restart drops it. That fits ``tokend serve --demo`` and a
single process; with Redis configured, ``SaqJobs`` keeps jobs across restarts and replicas.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from uuid import uuid4

import structlog

from tokend.jobs.base import JobSpec
from tokend.jobs.outcomes import JobOutcomes
from tokend.jobs.settings import JobsSettings

log = structlog.get_logger("tokend.jobs")


@dataclass(frozen=True, slots=True)
class _Run:
    spec: JobSpec
    kwargs: Mapping[str, Any] = field(repr=False)  # may hold secrets


class InProcessJobs:
    """Queued runs go to ``concurrency`` worker tasks; periodic jobs each get a timer task.

    All of them belong to one task group inside a supervisor task that ``close`` cancels, so a
    failure outside a job (a bug here) ends the group and is logged, never lost.
    """

    def __init__(self, settings: JobsSettings, outcomes: JobOutcomes) -> None:
        self._settings = settings
        self._outcomes = outcomes
        self._specs: dict[str, JobSpec] = {}
        self._pending: asyncio.Queue[_Run] = asyncio.Queue()
        self._supervisor: asyncio.Task[None] | None = None
        self._is_closed = False

    @property
    def specs(self) -> Mapping[str, JobSpec]:
        return MappingProxyType(self._specs)

    def register(self, spec: JobSpec) -> None:
        if self._supervisor is not None or self._is_closed:
            raise RuntimeError(f"job {spec.name!r} must be registered before start()")
        if spec.name in self._specs:
            raise ValueError(f"job {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    async def enqueue(self, name: str, /, **kwargs: Any) -> str:
        spec = self._specs[name]  # KeyError for an unknown job, as the Protocol says
        if self._is_closed:
            raise RuntimeError("jobs are closed")
        # The Redis queue stores kwargs as JSON; round-tripping them here too means a job that
        # works embedded gets the same values (lists, not tuples) and fails the same way there.
        self._pending.put_nowait(_Run(spec, json.loads(json.dumps(kwargs))))
        return uuid4().hex

    async def start(self) -> None:
        if self._is_closed:
            raise RuntimeError("jobs are closed")
        if self._supervisor is not None:
            raise RuntimeError("jobs were already started")
        self._supervisor = asyncio.create_task(self._supervise(), name="tokend.jobs")
        self._supervisor.add_done_callback(_log_crash)

    async def close(self) -> None:
        self._is_closed = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is None:
            return
        if dropped := self._pending.qsize():
            log.warning("jobs.dropped", count=dropped)  # queued in memory, never started
        supervisor.cancel()
        await asyncio.wait([supervisor])
        if not supervisor.cancelled() and (error := supervisor.exception()) is not None:
            raise error

    async def _supervise(self) -> None:
        async with asyncio.TaskGroup() as group:
            for index in range(self._settings.concurrency):
                group.create_task(self._work(), name=f"tokend.jobs.worker-{index}")
            for spec in self._specs.values():
                if spec.every_s is not None:
                    group.create_task(
                        self._repeat(spec, spec.every_s), name=f"tokend.jobs.{spec.name}"
                    )

    async def _work(self) -> None:
        while True:
            run = await self._pending.get()
            await self._run_with_retries(run.spec, run.kwargs)

    async def _repeat(self, spec: JobSpec, every_s: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + every_s
        while True:
            await asyncio.sleep(due - loop.time())
            await self._run_with_retries(spec, {})  # awaited: a job never overlaps itself
            # Fixed rate; a run that overran its interval skips the ticks it missed instead of
            # firing again at once to catch up.
            due += every_s * max(1, math.ceil((loop.time() - due) / every_s))

    async def _run_with_retries(self, spec: JobSpec, kwargs: Mapping[str, Any]) -> None:
        max_retries = self._settings.max_retries if spec.max_retries is None else spec.max_retries
        for attempt in itertools.count(1):
            try:
                async with asyncio.timeout(spec.timeout_s):
                    await spec.run(**kwargs)
            except Exception as error:  # a job's failure must not end the worker that ran it
                if attempt > max_retries:
                    self._outcomes.failed(spec.name, attempt, error)
                    return
                self._outcomes.retried(spec.name, attempt, error)
                # The retry keeps this worker busy through its backoff: embedded jobs are few
                # and light, and it keeps one run in one place until it is done.
                await asyncio.sleep(self._settings.retry_backoff_s * 2 ** (attempt - 1))
            else:
                self._outcomes.succeeded(spec.name, attempt)
                return


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("jobs.crashed", exc_info=error)
