"""What only the in-process backend has to show: its tasks, its timers, its kwargs check."""

from __future__ import annotations

import asyncio

import pytest

from tests.polling import eventually
from tokend.jobs.base import JobSpec
from tokend.jobs.inprocess import InProcessJobs
from tokend.jobs.outcomes import JobOutcomes
from tokend.jobs.settings import JobsSettings
from tokend.obs.metrics import new_registry


def in_process(*specs: JobSpec, **settings: float) -> InProcessJobs:
    jobs = InProcessJobs(JobsSettings(**settings), JobOutcomes.register(new_registry()))
    for spec in specs:
        jobs.register(spec)
    return jobs


def tasks_of_jobs() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("tokend.jobs")]


async def test_close_cancels_running_jobs_and_leaves_no_task_behind() -> None:
    started = asyncio.Event()
    outcome: list[str] = []

    async def long_running() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def tick() -> None:
        return None

    jobs = in_process(JobSpec("long", long_running), JobSpec("tick", tick, every_s=0.01))
    await jobs.start()
    await jobs.enqueue("long")
    await asyncio.wait_for(started.wait(), timeout=5)
    assert tasks_of_jobs()
    await jobs.close()
    assert outcome == ["cancelled"]
    assert tasks_of_jobs() == []
    await jobs.close()  # a second close is harmless


async def test_a_periodic_job_never_overlaps_itself() -> None:
    running = 0
    most = 0
    runs = 0

    async def slow_tick() -> None:
        nonlocal running, most, runs
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.03)  # three times its interval
        running -= 1
        runs += 1

    jobs = in_process(JobSpec("slow_tick", slow_tick, every_s=0.01))
    await jobs.start()
    try:
        await eventually(lambda: runs >= 3)
    finally:
        await jobs.close()
    assert most == 1


async def test_a_periodic_job_first_runs_after_one_interval() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    jobs = in_process(JobSpec("tick", tick, every_s=30))
    await jobs.start()
    await asyncio.sleep(0.05)
    await jobs.close()
    assert ticks == []


async def test_queued_runs_wait_for_start() -> None:
    seen: list[int] = []

    async def record(n: int) -> None:
        seen.append(n)

    jobs = in_process(JobSpec("record", record))
    await jobs.enqueue("record", n=1)
    await asyncio.sleep(0.01)
    assert seen == []
    await jobs.start()
    try:
        await eventually(lambda: seen == [1])
    finally:
        await jobs.close()


async def test_kwargs_must_be_json_like_on_the_redis_queue() -> None:
    async def record(**kwargs: object) -> None:
        return None

    jobs = in_process(JobSpec("record", record))
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        await jobs.enqueue("record", when=object())
    await jobs.close()
