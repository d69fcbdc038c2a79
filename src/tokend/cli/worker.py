"""``tokend worker``: run the Redis queue's jobs, queued and periodic, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import structlog
from redis.exceptions import RedisError

from tokend.cli.context import fail
from tokend.config import Settings
from tokend.jobs.base import Jobs
from tokend.jobs.saq_queue import SaqJobs, open_saq_jobs, run_worker
from tokend.obs.logging import configure_logging
from tokend.obs.metrics import new_registry, serving_metrics

log = structlog.get_logger("tokend.worker")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


#: Registers the jobs on a queue and opens what they need, for as long as the worker runs.
Prepare = Callable[[Jobs], AbstractAsyncContextManager[None]]


def run_worker_command(settings: Settings, prepare: Prepare) -> None:
    """Run a SAQ worker with the jobs ``prepare`` registers, inside the resources it opens;
    exit 2 when there is no queue to work."""
    if settings.redis.url is None:
        raise fail(
            "tokend worker needs Redis for its queue: set TOKEND_REDIS__URL "
            "(without Redis, tokend serve runs the jobs itself)"
        )
    if settings.jobs.backend == "inprocess":
        raise fail("jobs.backend is inprocess: tokend serve runs the jobs, not a worker")
    configure_logging(settings.log, settings.env)
    registry = new_registry()
    jobs = open_saq_jobs(settings.jobs, settings.redis, registry)
    # The worker's own /metrics (tokend_jobs_total), when jobs.worker_metrics_port is set.
    with serving_metrics(registry, settings.server.host, settings.jobs.worker_metrics_port):
        asyncio.run(_work(jobs, prepare))


async def _work(
    jobs: SaqJobs, prepare: Callable[[Jobs], AbstractAsyncContextManager[None]]
) -> None:
    async with prepare(jobs):
        await _run(jobs)


async def _run(jobs: SaqJobs) -> None:
    await jobs.start()
    loop = asyncio.get_running_loop()
    try:
        try:
            # SAQ's worker retries a failing dequeue at once, forever: check Redis first so a
            # wrong URL is one clear line, not a busy loop.
            await jobs.queue.redis.ping()
        except (RedisError, OSError) as exc:
            raise fail(f"cannot reach Redis for the job queue: {exc}") from None
        log.info("worker.started", queue=jobs.queue.name, jobs=sorted(jobs.specs))
        async with asyncio.TaskGroup() as group:
            worker = group.create_task(run_worker(jobs), name="tokend.worker")
            for signum in _STOP_SIGNALS:
                loop.add_signal_handler(signum, worker.cancel)
        log.info("worker.stopped", queue=jobs.queue.name)
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await jobs.close()
