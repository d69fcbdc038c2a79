"""Run the same job tests against the in-process backend and SAQ on a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tokend.cache.settings import RedisSettings
from tokend.jobs.backend import open_jobs
from tokend.jobs.base import Jobs, JobSpec
from tokend.jobs.saq_queue import SaqJobs, run_worker
from tokend.jobs.settings import JobsSettings
from tokend.obs.metrics import new_registry

# SAQ 0.26 stores finished jobs with SETEX, which redis-py 8 deprecates. The warning is theirs,
# and raised as an error (filterwarnings=error) it would fail every job a worker finishes.
SAQ_SETEX_DEPRECATION = "ignore:Call to deprecated setex:DeprecationWarning"

#: The shortest interval each backend schedules periodic jobs at (SAQ: cron, whole seconds).
SHORT_EVERY_S = {"inprocess": 0.05, "saq": 1.0}

BACKENDS = [
    pytest.param("inprocess", id="inprocess"),
    pytest.param("saq", id="saq", marks=pytest.mark.redis),
]


@dataclass(frozen=True, slots=True)
class Running:
    jobs: Jobs
    registry: CollectorRegistry
    worker: asyncio.Task[None] | None

    def count(self, job: str, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "tokend_jobs_total", {"job": job, "outcome": outcome}
        )
        return value or 0.0

    async def close(self) -> None:
        """Stop the worker (SAQ), then close the jobs, as ``tokend worker`` does. Idempotent."""
        if self.worker is not None:
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
        await self.jobs.close()


class OpenRunning(Protocol):
    def __call__(
        self, *specs: JobSpec, **settings: Any
    ) -> AbstractAsyncContextManager[Running]: ...


async def first_sweep_done(jobs: SaqJobs, within_s: float = 5.0) -> None:
    """Wait for the worker's start-up sweep. SAQ sweeps the active list as it starts and treats
    a job it finds there not yet marked active as stuck: a job enqueued at that instant runs twice
    (SAQ is at-least-once, and tokend's jobs are written to be re-run), which would make counting
    tests flaky. The sweep leaves its lock key behind; its presence means the sweep has run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    sweep_key = jobs.queue.namespace("sweep")
    while not await jobs.queue.redis.exists(sweep_key):
        if loop.time() > deadline:
            raise AssertionError(f"the SAQ worker did not sweep within {within_s} s")
        await asyncio.sleep(0.02)


async def delete_queue_keys(redis_url: str, queue_name: str) -> None:
    client: Redis = Redis.from_url(redis_url)
    try:
        for pattern in (f"saq:{queue_name}:*", f"saq:job:{queue_name}:*"):
            keys = [key async for key in client.scan_iter(match=pattern)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_settings(backend: str, request: pytest.FixtureRequest) -> RedisSettings:
    if backend == "inprocess":
        return RedisSettings()
    url = request.getfixturevalue("redis_url")
    # 5 s, not the 0.5 s default, as the cache tests' (tests/unit/cache/conftest.py): with the
    # whole suite on two cores a connect stalled past half a second once (CI, 2026-12-07), and
    # these tests are about jobs, not the Redis timeout.
    prefix = request.getfixturevalue("redis_prefix")
    return RedisSettings(url=url, key_prefix=prefix, socket_timeout_s=5.0)


@pytest.fixture
def open_running(backend: str, redis_settings: RedisSettings) -> OpenRunning:
    """Jobs of the backend with ``specs`` registered, started, and (SAQ) a worker running."""

    @asynccontextmanager
    async def open_(*specs: JobSpec, **changes: Any) -> AsyncIterator[Running]:
        defaults: dict[str, Any] = {"concurrency": 2, "max_retries": 2, "retry_backoff_s": 0.0}
        settings = JobsSettings(
            backend="redis" if backend == "saq" else "inprocess", **{**defaults, **changes}
        )
        registry = new_registry()
        jobs = open_jobs(settings, redis_settings, registry)
        for spec in specs:
            jobs.register(spec)
        await jobs.start()
        worker = None
        if isinstance(jobs, SaqJobs):
            worker = asyncio.create_task(run_worker(jobs))
            await first_sweep_done(jobs)
        running = Running(jobs, registry, worker)
        try:
            yield running
        finally:
            await running.close()
            if isinstance(jobs, SaqJobs) and redis_settings.url is not None:
                url = redis_settings.url.get_secret_value()
                await delete_queue_keys(url, jobs.queue.name)

    return open_
