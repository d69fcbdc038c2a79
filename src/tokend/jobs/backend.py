"""Which jobs backend a process runs: in-process when embedded, SAQ on Redis otherwise."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tokend.cache.settings import RedisSettings
from tokend.jobs.base import Jobs
from tokend.jobs.inprocess import InProcessJobs
from tokend.jobs.outcomes import JobOutcomes
from tokend.jobs.settings import JobsSettings


def open_jobs(settings: JobsSettings, redis: RedisSettings, registry: CollectorRegistry) -> Jobs:
    """The configured backend (``auto``: SAQ when Redis is set). Opens no connection yet."""
    backend = settings.backend
    if backend == "auto":
        backend = "redis" if redis.url is not None else "inprocess"
    if backend == "inprocess":
        return InProcessJobs(settings, JobOutcomes.register(registry))
    # SAQ and redis-py are imported only by a process whose jobs run on Redis: they are a
    # tenth of a second of every other process's start.
    from tokend.jobs.saq_queue import open_saq_jobs

    return open_saq_jobs(settings, redis, registry)
