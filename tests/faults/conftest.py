"""The fault-injection suite: real components killed under load, one scenario per test.

Each scenario adds a row (requests, answers by status, time to recover, data check) to the
summary printed after the run and stored in ``bench/results/faults.json``. Run it alone with
``pytest -m faults``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

from tests.e2e.server import REPO

RESULTS = REPO / "bench" / "results" / "faults.json"


@dataclass(frozen=True, slots=True)
class FaultRow:
    scenario: str
    requests: int
    answers: dict[str, int]
    recovered_in_s: float | None
    data_check: str
    expected: str


ROWS: list[FaultRow] = []


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    data: dict[str, str] | None = None


@dataclass(slots=True)
class Outcome:
    at: float
    answer: str  # the status code, or the transport error's name
    seconds: float


@dataclass
class Traffic:
    """Requests sent without pause by ``concurrency`` workers while a test breaks things."""

    client: httpx.AsyncClient
    calls: Sequence[Callable[[int], Call]]
    concurrency: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Traffic:
        self._tasks = [asyncio.create_task(self._work(n)) for n in range(self.concurrency)]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _work(self, worker: int) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            call = self.calls[count % len(self.calls)](worker * 1_000_000 + count)
            started = time.monotonic()
            try:
                response = await self.client.request(call.method, call.path, data=call.data)
                answer = str(response.status_code)
            except httpx.TransportError as exc:
                answer = type(exc).__name__
                await asyncio.sleep(0.05)  # a dead server refuses at once: do not spin
            self.outcomes.append(Outcome(started, answer, time.monotonic() - started))

    def answers(self, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
        return Counter(o.answer for o in self.outcomes if since <= o.at < until)


async def until(
    condition: Callable[[], Awaitable[bool]], within_s: float = 20.0, every_s: float = 0.1
) -> float:
    """Seconds until ``condition`` holds; fails after ``within_s``."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"not recovered within {within_s} s")
        await asyncio.sleep(every_s)
    return round(time.monotonic() - started, 2)


async def ready_body(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/ready")
    return response.status_code, response.json()


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


def record(row: FaultRow) -> None:
    ROWS.append(row)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not ROWS:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(row) for row in sorted(ROWS, key=lambda r: r.scenario)]
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault injection")
    write(f"{'scenario':<26}{'requests':>9}  {'answers':<42}{'recovered s':>12}  data")
    for row in sorted(ROWS, key=lambda r: r.scenario):
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(row.answers.items()))
        recovered = "-" if row.recovered_in_s is None else f"{row.recovered_in_s:.2f}"
        write(
            f"{row.scenario:<26}{row.requests:>9}  {answers:<42}{recovered:>12}  {row.data_check}"
        )


def write_directory(path: Path, operator_port: int, timeout_s: float) -> Path:
    path.write_text(
        "prefixes:\n  97205:\n    operator_id: faulty\n"
        f"    base_url: http://127.0.0.1:{operator_port}\n"
        f"    timeout_s: {timeout_s}\n"
        "    client_id: FAULT_ID\n    client_secret: FAULT_SECRET\n",
        encoding="utf-8",
    )
    return path
