"""What only the SAQ backend has to show, on a real Redis: job policy, prefix, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from saq import Status

from tests.polling import eventually
from tests.unit.jobs.conftest import SAQ_SETEX_DEPRECATION, delete_queue_keys
from tokend.cache.settings import RedisSettings
from tokend.jobs.base import JobSpec
from tokend.jobs.saq_queue import SaqJobs, open_saq_jobs, run_worker
from tokend.jobs.settings import JobsSettings
from tokend.obs.metrics import new_registry

pytestmark = [pytest.mark.redis, pytest.mark.filterwarnings(SAQ_SETEX_DEPRECATION)]


@pytest.fixture
async def saq_jobs(redis_url: str, redis_prefix: str) -> AsyncIterator[SaqJobs]:
    settings = JobsSettings(max_retries=2, retry_backoff_s=0.5, queue_name="q")
    redis = RedisSettings(url=redis_url, key_prefix=redis_prefix)
    jobs = open_saq_jobs(settings, redis, new_registry())
    yield jobs
    await jobs.close()
    await delete_queue_keys(redis_url, jobs.queue.name)


async def noop() -> None:
    return None


async def test_the_queue_is_named_with_the_redis_key_prefix(
    saq_jobs: SaqJobs, redis_prefix: str
) -> None:
    assert saq_jobs.queue.name == f"{redis_prefix}q"


async def test_an_enqueued_job_carries_its_retry_policy_and_timeout(saq_jobs: SaqJobs) -> None:
    saq_jobs.register(JobSpec("default", noop, timeout_s=1.5))
    saq_jobs.register(JobSpec("patient", noop, max_retries=5))
    await saq_jobs.start()
    default = await saq_jobs.queue.job(await saq_jobs.enqueue("default"))
    patient = await saq_jobs.queue.job(await saq_jobs.enqueue("patient"))
    assert default is not None
    assert patient is not None
    # SAQ counts attempts: max_retries 2 means three of them.
    assert (default.retries, default.retry_delay, default.retry_backoff) == (3, 0.5, True)
    assert default.timeout == 2  # whole seconds, rounded up
    assert (patient.retries, patient.timeout) == (6, 60)


async def test_cancelling_the_worker_cancels_the_running_job_and_requeues_it(
    saq_jobs: SaqJobs,
) -> None:
    started = asyncio.Event()
    outcome: list[str] = []

    async def long_running() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    saq_jobs.register(JobSpec("long", long_running))
    await saq_jobs.start()
    key = await saq_jobs.enqueue("long")
    worker = asyncio.create_task(run_worker(saq_jobs))
    try:
        await asyncio.wait_for(started.wait(), timeout=5)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    assert worker.cancelled()  # ends as cancelled, so a caller's task group sees why
    assert outcome == ["cancelled"]
    job = await saq_jobs.queue.job(key)
    assert job is not None
    assert job.status == Status.QUEUED  # the next worker runs it again


async def test_a_periodic_job_never_overlaps_itself_however_many_workers_run(
    saq_jobs: SaqJobs,
) -> None:
    running = 0
    most = 0
    runs = 0

    async def tick() -> None:
        nonlocal running, most, runs
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.3)
        running -= 1
        runs += 1

    saq_jobs.register(JobSpec("tick", tick, every_s=1))
    await saq_jobs.start()
    workers = [asyncio.create_task(run_worker(saq_jobs)) for _ in range(3)]
    try:
        await eventually(lambda: runs >= 1, within_s=5)
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    assert most == 1  # one cron key per queue: a period runs once, not once per worker
