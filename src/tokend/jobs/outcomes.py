"""What became of each job run: one Prometheus counter and the log events, for every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry, Counter

Outcome = Literal["succeeded", "failed", "retried"]

log = structlog.get_logger("tokend.jobs")


@dataclass(frozen=True, slots=True)
class JobOutcomes:
    """Counts each attempt's outcome and logs the unhappy ones.

    Events carry the job name and attempt number only: a job's kwargs may hold secrets (a
    refresh token to renew), so they are never logged, and errors are named by type except
    for the final failure, whose traceback an operator needs (the log redaction still applies).
    """

    runs: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> JobOutcomes:
        return cls(
            runs=Counter(
                "tokend_jobs_total",
                "Job attempts by outcome (a retried attempt will run again).",
                ("job", "outcome"),
                registry=registry,
            )
        )

    def succeeded(self, job: str, attempt: int) -> None:
        self.runs.labels(job=job, outcome="succeeded").inc()
        log.debug("job.succeeded", job=job, attempt=attempt)

    def retried(self, job: str, attempt: int, error: BaseException) -> None:
        self.runs.labels(job=job, outcome="retried").inc()
        log.warning("job.retried", job=job, attempt=attempt, error=type(error).__name__)

    def failed(self, job: str, attempt: int, error: BaseException) -> None:
        self.runs.labels(job=job, outcome="failed").inc()
        log.error(
            "job.failed", job=job, attempt=attempt, error=type(error).__name__, exc_info=error
        )
