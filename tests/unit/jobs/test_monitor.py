"""SAQ's web monitor, mounted by the app under /admin/jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.unit.jobs.conftest import delete_queue_keys
from tokend.cache.settings import RedisSettings
from tokend.jobs.monitor import monitor_app
from tokend.jobs.saq_queue import SaqJobs, open_saq_jobs
from tokend.jobs.settings import JobsSettings
from tokend.obs.metrics import new_registry


async def get(jobs: SaqJobs, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=monitor_app(jobs, "/admin/jobs/"))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


async def test_the_monitor_page_answers_on_its_root_with_links_under_its_mount_path() -> None:
    redis = RedisSettings(url="redis://127.0.0.1:1/0")  # the page itself reads no queue
    jobs = open_saq_jobs(JobsSettings(), redis, new_registry())
    response = await get(jobs, "/")
    await jobs.close()
    assert response.status_code == 200
    assert 'href="/admin/jobs/static/' in response.text


@pytest.fixture
async def saq_jobs(redis_url: str, redis_prefix: str) -> AsyncIterator[SaqJobs]:
    redis = RedisSettings(url=redis_url, key_prefix=redis_prefix)
    jobs = open_saq_jobs(JobsSettings(), redis, new_registry())
    await jobs.start()
    yield jobs
    await jobs.close()
    await delete_queue_keys(redis_url, jobs.queue.name)


@pytest.mark.redis
async def test_the_monitor_api_lists_the_queue(saq_jobs: SaqJobs) -> None:
    response = await get(saq_jobs, "/api/queues")
    assert response.status_code == 200
    assert [q["name"] for q in response.json()["queues"]] == [saq_jobs.queue.name]
