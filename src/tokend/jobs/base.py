"""One interface to run named jobs now or on a schedule, whatever runs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: A job receives its keyword arguments (JSON-serialisable) and returns nothing useful.
JobFunction = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    run: JobFunction = field(repr=False)
    #: Run every ``every_s`` seconds (periodic jobs); None for jobs that are only enqueued.
    every_s: float | None = None
    timeout_s: float = 60.0
    max_retries: int | None = None  # None: the JobsSettings default


class Jobs(Protocol):
    """Enqueue registered jobs by name; periodic ones run by themselves once started."""

    def register(self, spec: JobSpec) -> None:
        """Add a job before ``start``. Capabilities call this from their ``build``."""
        ...

    async def enqueue(self, name: str, /, **kwargs: Any) -> str:
        """Queue one run of job ``name`` and return its id. Unknown names raise KeyError.

        ``kwargs`` must be JSON-serialisable and should name things (a connection id), not
        carry secrets: the Redis queue stores them in clear and its monitor shows them.
        """
        ...

    async def start(self) -> None:
        """In-process: begin running queued and periodic jobs. Redis queue: connect only;
        ``tokend worker`` runs the jobs, periodic ones included."""
        ...

    async def close(self) -> None:
        """Stop accepting work and cancel what is running: jobs must be safe to run again
        (the Redis queue retries a run its worker interrupted)."""
        ...


JobRegistry = Mapping[str, JobSpec]
