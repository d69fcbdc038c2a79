"""Background jobs: one ``Jobs`` interface, in-process when embedded, SAQ on Redis otherwise.

Capabilities register ``JobSpec``s from their ``build`` and enqueue by name; ``open_jobs``
picks the backend from settings. With Redis, ``tokend worker`` runs the jobs (``run_worker``)
and ``tokend.jobs.monitor`` serves SAQ's web UI (imported where it is mounted: a server without
the monitor does not load it).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tokend.config import JobsSettings, RedisSettings
from tokend.jobs.base import JobFunction, Jobs, JobSpec
from tokend.jobs.inprocess import InProcessJobs
from tokend.jobs.outcomes import JobOutcomes
from tokend.jobs.saq_queue import SaqJobs, open_saq_jobs, run_worker

__all__ = [
    "InProcessJobs",
    "JobFunction",
    "JobOutcomes",
    "JobSpec",
    "Jobs",
    "SaqJobs",
    "open_jobs",
    "open_saq_jobs",
    "run_worker",
]


def open_jobs(settings: JobsSettings, redis: RedisSettings, registry: CollectorRegistry) -> Jobs:
    """The configured backend (``auto``: SAQ when Redis is set). Opens no connection yet."""
    backend = settings.backend
    if backend == "auto":
        backend = "redis" if redis.url is not None else "inprocess"
    if backend == "inprocess":
        return InProcessJobs(settings, JobOutcomes.register(registry))
    return open_saq_jobs(settings, redis, registry)
