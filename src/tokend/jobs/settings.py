"""The background jobs block (``TOKEND_JOBS__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class JobsSettings(BaseModel):
    #: ``auto``: the Redis queue when Redis is configured, in-process otherwise.
    backend: Literal["auto", "inprocess", "redis"] = "auto"
    queue_name: str = "tokend"
    concurrency: int = Field(default=10, ge=1)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0)
    #: Serve the queue monitor under /admin/jobs when the Redis queue is used.
    monitor: bool = True
    #: ``tokend worker`` serves its own /metrics (tokend_jobs_total) on this port; unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
