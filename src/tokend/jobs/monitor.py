"""SAQ's web monitor for the job queue, mounted by the app under /admin/jobs."""

from __future__ import annotations

from saq.web.starlette import saq_web
from starlette.types import ASGIApp

from tokend.jobs.saq_queue import SaqJobs


def monitor_app(jobs: SaqJobs, root_path: str) -> ASGIApp:
    """The monitor for ``jobs``' queue; ``root_path`` is the absolute path it is mounted at.

    It lists jobs with their kwargs and can retry or abort them, so it belongs behind admin
    authentication. saq.web.starlette keeps its queues in module globals: one monitor per
    process, and a second call replaces the first one's queue.
    """
    return saq_web(root_path.rstrip("/"), queues=[jobs.queue])
