"""open_jobs picks the backend from settings; nothing connects until start()."""

from __future__ import annotations

import pytest

from tokend.cache.settings import RedisSettings
from tokend.jobs.backend import open_jobs
from tokend.jobs.inprocess import InProcessJobs
from tokend.jobs.saq_queue import SaqJobs
from tokend.jobs.settings import JobsSettings
from tokend.obs.metrics import new_registry

SOME_REDIS = RedisSettings(url="redis://127.0.0.1:1/0")  # never reached: nothing connects


async def test_auto_runs_jobs_in_process_without_redis() -> None:
    jobs = open_jobs(JobsSettings(), RedisSettings(), new_registry())
    assert isinstance(jobs, InProcessJobs)


async def test_auto_uses_the_saq_queue_when_redis_is_configured() -> None:
    jobs = open_jobs(JobsSettings(), SOME_REDIS, new_registry())
    assert isinstance(jobs, SaqJobs)
    await jobs.close()


async def test_inprocess_can_be_forced_even_with_redis() -> None:
    jobs = open_jobs(JobsSettings(backend="inprocess"), SOME_REDIS, new_registry())
    assert isinstance(jobs, InProcessJobs)


async def test_the_redis_backend_without_redis_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="TOKEND_REDIS__URL"):
        open_jobs(JobsSettings(backend="redis"), RedisSettings(), new_registry())
