"""The Jobs contract, the same on both backends: in-process and SAQ with a real worker."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import REGISTRY

from tests.polling import eventually
from tests.secrets_seen import SecretsSeen
from tests.unit.jobs.conftest import SAQ_SETEX_DEPRECATION, SHORT_EVERY_S, OpenRunning
from tokend.core.environment import Environment
from tokend.jobs.base import JobSpec
from tokend.obs.logging import configure_logging
from tokend.obs.settings import LogSettings

pytestmark = pytest.mark.filterwarnings(SAQ_SETEX_DEPRECATION)


async def test_an_enqueued_job_runs_with_its_kwargs(open_running: OpenRunning) -> None:
    seen: list[tuple[str, list[int]]] = []

    async def greet(who: str, days: list[int]) -> None:
        seen.append((who, days))

    async with open_running(JobSpec("greet", greet)) as running:
        job_id = await running.jobs.enqueue("greet", who="ada", days=[1, 2])
        await eventually(lambda: running.count("greet", "succeeded") == 1)
    assert job_id
    assert seen == [("ada", [1, 2])]
    # Counted on the registry it was given, never on the process-wide one.
    assert (
        REGISTRY.get_sample_value("tokend_jobs_total", {"job": "greet", "outcome": "succeeded"})
        is None
    )


async def test_kwargs_named_like_queue_options_still_reach_the_job(
    open_running: OpenRunning,
) -> None:
    seen: list[dict[str, object]] = []

    async def record(**kwargs: object) -> None:
        seen.append(kwargs)

    async with open_running(JobSpec("record", record)) as running:
        await running.jobs.enqueue("record", key="k-1", timeout=3, retries=9)
        await eventually(lambda: bool(seen))
    assert seen == [{"key": "k-1", "timeout": 3, "retries": 9}]


async def test_a_failing_job_is_retried_until_it_succeeds(open_running: OpenRunning) -> None:
    attempts: list[int] = []

    async def flaky() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise ConnectionError("upstream down")

    async with open_running(JobSpec("flaky", flaky), max_retries=2) as running:
        await running.jobs.enqueue("flaky")
        await eventually(lambda: running.count("flaky", "succeeded") == 1)
        assert running.count("flaky", "retried") == 2
        assert running.count("flaky", "failed") == 0
    assert attempts == [1, 2, 3]


async def test_a_job_that_always_fails_stops_after_max_retries_and_counts_as_failed(
    open_running: OpenRunning,
) -> None:
    attempts: list[int] = []

    async def broken() -> None:
        attempts.append(len(attempts) + 1)
        raise ValueError("always")

    # The spec's own max_retries wins over the settings' (2).
    async with open_running(JobSpec("broken", broken, max_retries=1)) as running:
        await running.jobs.enqueue("broken")
        await eventually(lambda: running.count("broken", "failed") == 1)
        await asyncio.sleep(0.2)  # room for a wrong extra attempt to show up
        assert running.count("broken", "retried") == 1
        assert running.count("broken", "failed") == 1
    assert attempts == [1, 2]


async def test_a_job_that_outlives_its_timeout_is_cancelled_and_fails(
    open_running: OpenRunning,
) -> None:
    outcome: list[str] = []

    async def stuck() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    spec = JobSpec("stuck", stuck, timeout_s=0.05, max_retries=0)  # SAQ rounds up to 1 s
    async with open_running(spec) as running:
        await running.jobs.enqueue("stuck")
        await eventually(lambda: running.count("stuck", "failed") == 1)
    assert outcome == ["cancelled"]


async def test_a_periodic_job_runs_repeatedly(open_running: OpenRunning, backend: str) -> None:
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    spec = JobSpec("tick", tick, every_s=SHORT_EVERY_S[backend])
    async with open_running(spec) as running:
        await eventually(lambda: running.count("tick", "succeeded") >= 2, within_s=8)
    assert len(ticks) >= 2


async def test_enqueue_of_an_unknown_job_raises_key_error(open_running: OpenRunning) -> None:
    async with open_running() as running:
        with pytest.raises(KeyError, match="nobody"):
            await running.jobs.enqueue("nobody")


async def test_a_job_name_is_registered_once(open_running: OpenRunning) -> None:
    async def noop() -> None:
        return None

    async with open_running(JobSpec("noop", noop)) as running:
        with pytest.raises(RuntimeError, match="before start"):
            running.jobs.register(JobSpec("late", noop))
    async with open_running() as running:
        pass
    with pytest.raises(ValueError, match="already registered"):
        async with open_running(JobSpec("noop", noop), JobSpec("noop", noop)):
            pass


async def test_enqueue_after_close_is_refused(open_running: OpenRunning) -> None:
    async def noop() -> None:
        return None

    async with open_running(JobSpec("noop", noop)) as running:
        await running.close()
        with pytest.raises(RuntimeError, match="closed"):
            await running.jobs.enqueue("noop")


async def test_a_failed_job_is_logged_by_name_and_attempt_never_with_its_kwargs(
    open_running: OpenRunning,
    secrets_seen: SecretsSeen,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging(LogSettings(format="json", level="debug"), Environment.PRODUCTION)
    secret = secrets_seen.add("rt-" + "7f3a9c2e5b1d4f60" * 2)

    async def renew(grant: str) -> None:
        raise PermissionError("upstream refused the grant")

    async with open_running(JobSpec("renew", renew, max_retries=1)) as running:
        await running.jobs.enqueue("renew", grant=secret)
        await eventually(lambda: running.count("renew", "failed") == 1)
    err = capfd.readouterr().err
    assert secret not in err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failed = [e for e in events if e.get("event") == "job.failed"]
    assert [(e["job"], e["attempt"], e["error"]) for e in failed] == [
        ("renew", 2, "PermissionError")
    ]
