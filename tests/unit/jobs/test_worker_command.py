"""``tokend worker``: refuses to start without a queue, runs jobs, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import typer

from tests.polling import eventually
from tests.unit.jobs.conftest import SAQ_SETEX_DEPRECATION, delete_queue_keys
from tokend.cli.worker import run_worker_command
from tokend.config import Settings
from tokend.jobs.base import Jobs, JobSpec
from tokend.jobs.saq_queue import open_saq_jobs
from tokend.obs.metrics import new_registry

# The worker process: the same call `tokend worker` makes, with one job that writes a file.
WORKER = """
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import typer

from tokend.cli.worker import run_worker_command
from tokend.config import Settings
from tokend.jobs.base import JobSpec

out, url, prefix = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


async def touch(text: str) -> None:
    out.write_text(text)


@asynccontextmanager
async def prepare(jobs):
    jobs.register(JobSpec("touch", touch))
    yield


settings = Settings(redis={"url": url, "key_prefix": prefix}, log={"format": "json"})
try:
    run_worker_command(settings, prepare)
except typer.Exit as exc:
    sys.exit(exc.exit_code)
"""


def never_called(jobs: Jobs) -> AbstractAsyncContextManager[None]:
    raise AssertionError("no job should be registered")


def test_the_worker_refuses_to_start_without_redis(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        run_worker_command(Settings(redis={"url": None}), never_called)
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "TOKEND_REDIS__URL" in err


def test_the_worker_refuses_to_start_when_jobs_run_in_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(redis={"url": "redis://127.0.0.1:1/0"}, jobs={"backend": "inprocess"})
    with pytest.raises(typer.Exit) as exited:
        run_worker_command(settings, never_called)
    assert exited.value.exit_code == 2
    assert "inprocess" in capsys.readouterr().err


async def start_worker(out: Path, url: str, prefix: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKEND_")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-W",
        SAQ_SETEX_DEPRECATION,
        "-c",
        WORKER,
        str(out),
        url,
        prefix,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_the_worker_exits_2_when_redis_is_unreachable(tmp_path: Path) -> None:
    worker = await start_worker(tmp_path / "out", "redis://127.0.0.1:1/0", "unused:")
    _, err = await asyncio.wait_for(worker.communicate(), timeout=20)
    assert worker.returncode == 2
    assert "cannot reach Redis" in err.decode()


@pytest.mark.redis
async def test_the_worker_runs_enqueued_jobs_until_sigterm(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    out = tmp_path / "out"
    worker = await start_worker(out, redis_url, redis_prefix)
    try:
        assert worker.stderr is not None
        started = False
        while not started:
            line = await asyncio.wait_for(worker.stderr.readline(), timeout=20)
            assert line, "the worker ended before it started"
            started = b'"worker.started"' in line
        settings = Settings(redis={"url": redis_url, "key_prefix": redis_prefix})
        jobs = open_saq_jobs(settings.jobs, settings.redis, new_registry())
        jobs.register(JobSpec("touch", never_run))
        await jobs.start()
        await jobs.enqueue("touch", text="done")
        await jobs.close()
        await eventually(out.exists, within_s=10)
        worker.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(worker.communicate(), timeout=10)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await delete_queue_keys(redis_url, f"{redis_prefix}tokend")
    assert worker.returncode == 0
    assert out.read_text() == "done"
    assert b'"worker.stopped"' in rest


async def never_run(text: str) -> None:
    raise AssertionError("only the worker process runs jobs")
