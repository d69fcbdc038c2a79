"""Production mode: jobs on a Redis queue run by SAQ; ``tokend worker`` processes them.

Why SAQ rather than taskiq: SAQ is asyncio-native down to its worker, a coroutine we run and
cancel in our own loop (tests run a real worker in-process); it is Redis-backed with per-job
retries, exponential backoff, timeouts and cron scheduling built in; it ships a web monitor we
mount under /admin/jobs; and it is small enough to read in an afternoon. taskiq spreads the same
over a broker package, retry middleware and a separate scheduler process, with no monitor.

Any process may enqueue (the API replicas do); only workers run jobs, periodic ones included,
and SAQ's unique cron keys keep one run per period however many workers there are.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import CronJob, Job, Status, Worker
from saq.queue.redis import RedisQueue
from saq.types import Context

from tokend.cache.settings import RedisSettings
from tokend.jobs.base import JobSpec
from tokend.jobs.cron import cron_schedule
from tokend.jobs.outcomes import JobOutcomes
from tokend.jobs.settings import JobsSettings

log = structlog.get_logger("tokend.jobs")


class SaqJobs:
    """Enqueues onto a SAQ ``RedisQueue``; ``run_worker`` runs what is registered here."""

    def __init__(self, queue: RedisQueue, settings: JobsSettings, outcomes: JobOutcomes) -> None:
        self._queue = queue
        self._settings = settings
        self._outcomes = outcomes
        self._specs: dict[str, JobSpec] = {}
        self._is_started = False
        self._is_closed = False
        # One hook gives enqueued runs and the worker's cron-made runs the same policy: a
        # CronJob cannot carry a retry delay or backoff itself.
        queue.register_before_enqueue(self._apply_policy)
        _keep_job_kwargs_out_of_saq_logs()

    @property
    def queue(self) -> RedisQueue:
        return self._queue

    @property
    def specs(self) -> Mapping[str, JobSpec]:
        return MappingProxyType(self._specs)

    @property
    def concurrency(self) -> int:
        return self._settings.concurrency

    @property
    def outcomes(self) -> JobOutcomes:
        return self._outcomes

    def register(self, spec: JobSpec) -> None:
        if self._is_started or self._is_closed:
            raise RuntimeError(f"job {spec.name!r} must be registered before start()")
        if spec.name in self._specs:
            raise ValueError(f"job {spec.name!r} is already registered")
        if spec.every_s is not None:
            schedule = cron_schedule(spec.every_s)
            if schedule.every_s != spec.every_s:
                log.warning(
                    "job.interval_rounded",
                    job=spec.name,
                    every_s=spec.every_s,
                    cron_every_s=schedule.every_s,
                )
        self._specs[spec.name] = spec

    async def enqueue(self, name: str, /, **kwargs: Any) -> str:
        if name not in self._specs:
            raise KeyError(name)
        if self._is_closed:
            raise RuntimeError("jobs are closed")
        # A Job, not queue.enqueue(name, **kwargs): SAQ would read a job kwarg named like a Job
        # field (key, timeout, meta, ...) as that field instead of passing it to the job.
        job = await self._queue.enqueue(Job(function=name, kwargs=dict(kwargs)))
        if job is None:  # only a duplicate key is refused, and each Job gets a fresh one
            raise RuntimeError(f"the queue refused a run of job {name!r}")
        return job.key

    async def start(self) -> None:
        """Bind the queue to this loop; jobs themselves run in ``run_worker``."""
        if self._is_closed:
            raise RuntimeError("jobs are closed")
        await self._queue.connect()
        self._is_started = True

    async def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        try:
            await self._queue.disconnect()
        except (RedisError, OSError) as exc:
            # SAQ unsubscribes its pub/sub first, which needs Redis; when Redis is gone there is
            # nothing to unsubscribe from, and the pool must still be released.
            log.warning("jobs.disconnect_failed", error=type(exc).__name__)
            await self._queue.redis.aclose()

    async def _apply_policy(self, job: Job) -> None:
        spec = self._specs.get(job.function)
        if spec is None:
            return  # a job this process does not know: SAQ's defaults
        max_retries = self._settings.max_retries if spec.max_retries is None else spec.max_retries
        job.retries = max_retries + 1  # SAQ counts attempts, the first one included
        job.retry_delay = self._settings.retry_backoff_s
        job.retry_backoff = True  # doubles per attempt, with jitter
        # SAQ times out in whole seconds and reads 0 as "never".
        job.timeout = max(1, math.ceil(spec.timeout_s))


def open_saq_jobs(
    settings: JobsSettings, redis: RedisSettings, registry: CollectorRegistry
) -> SaqJobs:
    """SAQ jobs on the configured Redis, in the queue ``<key_prefix><queue_name>``."""
    if redis.url is None:
        raise ValueError("the job queue needs Redis: set TOKEND_REDIS__URL")
    # A client of its own, not the cache's pool, and without a socket timeout: the worker
    # blocks on BLMOVE until a job comes, and with a socket timeout redis-py wraps each send
    # in asyncio.wait_for, which on Python 3.11 can swallow the cancellation that stops the
    # worker (it then hangs until the next job). Keepalive and health checks find dead peers.
    client: Redis = Redis.from_url(
        redis.url.get_secret_value(),
        socket_connect_timeout=redis.socket_timeout_s,
        socket_timeout=None,
        socket_keepalive=True,
        health_check_interval=30,
    )
    queue = RedisQueue(client, name=f"{redis.key_prefix}{settings.queue_name}")
    return SaqJobs(queue, settings, JobOutcomes.register(registry))


async def run_worker(jobs: SaqJobs) -> None:
    """Run the registered jobs, queued and periodic, until cancelled.

    Signals are the caller's business (``tokend worker`` handles SIGINT/SIGTERM): a worker run
    inside another program or a test must not take over Ctrl-C. On cancellation, runs in
    progress are cancelled and SAQ puts them back on the queue.
    """
    worker = _worker_for(jobs)
    worker.SIGNALS = []
    try:
        await worker.start()
    finally:
        await worker.stop()  # already stopped unless start() failed; safe to repeat
    # Worker.start swallows the cancellation that stops it; raise it again so the caller's
    # task group sees this task end as cancelled rather than as finished.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _worker_for(jobs: SaqJobs) -> Worker[Context]:
    functions = {name: _saq_function(spec) for name, spec in jobs.specs.items()}
    cron_jobs = [
        CronJob(functions[spec.name], cron=cron_schedule(spec.every_s).expression)
        for spec in jobs.specs.values()
        if spec.every_s is not None
    ]
    return Worker(
        jobs.queue,
        list(functions.values()),
        concurrency=jobs.concurrency,
        cron_jobs=cron_jobs,
        after_process=_count_outcome(jobs.outcomes),
    )


def _saq_function(spec: JobSpec) -> Callable[..., Awaitable[None]]:
    async def run(ctx: Context, **kwargs: Any) -> None:
        # SAQ passes its context first; our jobs take only their own keyword arguments.
        await spec.run(**kwargs)

    # SAQ names functions, cron ones included, by __qualname__: make it the job's name.
    run.__name__ = run.__qualname__ = spec.name
    return run


def _count_outcome(outcomes: JobOutcomes) -> Callable[[Context], Awaitable[None]]:
    async def after_process(ctx: Context) -> None:
        job = ctx.get("job")
        if job is None:
            return
        error = ctx.get("exception")
        if job.status == Status.COMPLETE:
            outcomes.succeeded(job.function, job.attempts)
        elif error is None:
            return  # cancelled by a shutdown or aborted from the monitor: it did not fail
        elif job.status == Status.FAILED:
            outcomes.failed(job.function, job.attempts, error)
        else:
            outcomes.retried(job.function, job.attempts, error)

    return after_process


class _JobSummaries(logging.Filter):
    """Logs SAQ jobs by their summary: SAQ prints whole jobs, kwargs included, on errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.info(full=False) if isinstance(arg, Job) else arg for arg in record.args
            )
        return True


def _keep_job_kwargs_out_of_saq_logs() -> None:
    # Job kwargs may hold secrets (a refresh token to renew). SAQ logs whole jobs on errors and
    # job details whenever its logger is enabled for DEBUG, so its logger stops at INFO and
    # its Job arguments are summarised. Logging is process-wide; this is idempotent.
    saq_log = logging.getLogger("saq")
    if saq_log.level < logging.INFO:
        saq_log.setLevel(logging.INFO)
    if not any(isinstance(f, _JobSummaries) for f in saq_log.filters):
        saq_log.addFilter(_JobSummaries())
