"""The fault-injection suite: real components killed under load, one scenario per test.

Each scenario adds a row (requests, answers by status, time to recover, data check) to the
summary printed after the run and stored in ``var/test-results/faults.json`` (tests never write
tracked files); ``make faults`` runs the suite alone and records the committed
``bench/results/faults.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx
import pytest

from tests.components import PostgresCluster, spare_port
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, start, tokend_env
from tests.secrets_seen import SecretsSeen
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

#: Where the summary goes: an ignored folder, unless ``make faults`` names the committed file.
RESULTS = Path(
    os.environ.get("TOKEND_FAULTS_RESULTS", str(REPO / "var" / "test-results" / "faults.json"))
)


@dataclass(frozen=True, slots=True)
class FaultRow:
    scenario: str
    requests: int
    answers: dict[str, int]
    recovered_in_s: float | None
    data_check: str
    expected: str
    #: Answers by phase of the fault ("before", "down", "after", ...), then by kind of call.
    by_phase: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


ROWS: list[FaultRow] = []


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    data: dict[str, str] | None = None
    json: dict[str, object] | None = None
    headers: dict[str, str] | None = None
    #: Which kind of call this is, for tests that expect different answers per kind.
    kind: str = ""
    #: Told the answer (None: no answer, a transport error), e.g. to keep a rotated token.
    on_answer: Callable[[httpx.Response | None], None] | None = None


@dataclass(slots=True)
class Outcome:
    at: float
    answer: str  # the status code, or the transport error's name
    seconds: float
    kind: str = ""
    #: The body of an answer that is not a 2xx (error bodies are small and hold no token).
    error_body: str = ""


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
            response: httpx.Response | None = None
            try:
                response = await self.client.request(
                    call.method, call.path, data=call.data, json=call.json, headers=call.headers
                )
                answer = str(response.status_code)
                error_body = "" if response.is_success else response.text
            except httpx.TransportError as exc:
                answer, error_body = type(exc).__name__, ""
                await asyncio.sleep(0.05)  # a dead server refuses at once: do not spin
            if call.on_answer is not None:
                call.on_answer(response)
            seconds = time.monotonic() - started
            self.outcomes.append(Outcome(started, answer, seconds, call.kind, error_body))

    def answers(
        self, since: float = 0.0, until: float = float("inf"), kind: str | None = None
    ) -> Counter[str]:
        return Counter(
            o.answer
            for o in self.outcomes
            if since <= o.at < until and (kind is None or o.kind == kind)
        )

    def by_kind(self, outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
        """Answers of ``outcomes`` by kind of call, then by status (or transport error)."""
        kinds: dict[str, Counter[str]] = {}
        for o in outcomes:
            kinds.setdefault(o.kind, Counter())[o.answer] += 1
        return {kind: dict(sorted(counts.items())) for kind, counts in sorted(kinds.items())}


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


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, str]]:
    """The /ready status and its checks: component -> "ok", "degraded" or "unavailable: ..."."""
    response = await client.get("/ready")
    checks: dict[str, str] = response.json()["checks"]
    return response.status_code, checks


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    total = 0.0
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name and all(w in head for w in wanted):
            total += float(value)
    return total


#: The test running in this process: ``record`` puts its row on that test's report.
_RUNNING: list[pytest.Item] = []
_ROW: str = "fault_row"


def record(row: FaultRow) -> None:
    """Add ``row`` to the summary. It travels on the test's report, so the summary is whole
    when pytest-xdist runs the scenarios in several processes (``make test`` does)."""
    _RUNNING[-1].user_properties.append((_ROW, asdict(row)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    _RUNNING.append(item)
    try:
        return (yield)
    finally:
        _RUNNING.pop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Gathers the rows where the reports arrive: this process, or xdist's controller."""
    if report.when == "call":
        for key, value in report.user_properties:
            if key == _ROW:
                assert isinstance(value, dict)
                ROWS.append(FaultRow(**value))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not ROWS or hasattr(session.config, "workerinput"):  # an xdist worker has no rows
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
        for phase, kinds in row.by_phase.items():
            write(f"  {phase}: " + "; ".join(
                f"{kind} " + ", ".join(f"{k}: {v}" for k, v in counts.items())
                for kind, counts in kinds.items()
            ))  # fmt: skip


def write_directory(path: Path, operator_port: int, timeout_s: float) -> Path:
    path.write_text(
        "prefixes:\n  97205:\n    operator_id: faulty\n"
        f"    base_url: http://127.0.0.1:{operator_port}\n"
        f"    timeout_s: {timeout_s}\n"
        "    client_id: FAULT_ID\n    client_secret: FAULT_SECRET\n",
        encoding="utf-8",
    )
    return path


def base_env(**overrides: str) -> dict[str, str]:
    """The faults' server settings, ``overrides`` winning (a test may narrow the allow-list)."""
    defaults = {
        "TOKEND_SECRET_KEY": TEST_SECRET_KEY,
        "TOKEND_LOG__ACCESS_LOG": "false",
        "TOKEND_JOBS__BACKEND": "inprocess",
        "TOKEND_KEYS__REFRESH_INTERVAL_S": "0.5",  # the keyring reads the DB during the faults too
        "TOKEND_HTTP__ALLOW_HOSTS": LOOPBACK_ALLOW_HOSTS,  # the faulty upstreams run on loopback
    }
    return tokend_env(**{**defaults, **overrides})


async def serve(env: dict[str, str], log: Path, secrets_seen: SecretsSeen) -> Server:
    secrets_seen.add_log_file(log)
    port = spare_port()
    return await asyncio.to_thread(start, [*TOKEND, "serve", "--port", str(port)], env, port, log)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([*TOKEND, "migrate"], env=env, check=True, capture_output=True, timeout=60)


def hanging(
    release: asyncio.Event, hits: Counter[str] | None = None
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """An upstream that reads the request and answers nothing until ``release`` is set."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if hits is not None:
            hits["hang"] += 1
        await release.wait()
        writer.close()

    return handle


def failing_with(
    status: int, hits: Counter[str] | None = None
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """An upstream that answers every request with ``status`` and an empty body."""
    head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if hits is not None:
            hits[str(status)] += 1
        writer.write(head.encode())
        await writer.drain()
        writer.close()

    return handle


failing = failing_with(500)


CODE = "best_auth_code_123"
KEY_ROWS = "SELECT kid, alg, state, private_key_enc FROM signing_keys ORDER BY kid"


def jwks(_: int) -> Call:
    return Call("GET", "/.well-known/jwks.json")


def broker_token(_: int) -> Call:
    """The demo broker's token for one subscriber: served from the cache after the first."""
    return Call("POST", "/broker/api/demo/token?mcc=972&sn=0527464600", {"auth_code": CODE})


def demo_env(**overrides: str) -> dict[str, str]:
    return base_env(**{"TOKEND_ENV": "demo", "TOKEND_DEMO_DATA": "true",
                       "TOKEND_MODULES": "broker,telco", **overrides})  # fmt: skip


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    # Not under pytest's tmp_path: the postgres user must be able to reach the directory.
    workdir = Path(tempfile.mkdtemp(prefix="tokend-faults-"))
    cluster = PostgresCluster(workdir)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


async def pg_key_rows(cluster: PostgresCluster) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres")
    try:
        return [tuple(row) for row in await conn.fetch(KEY_ROWS)]
    finally:
        await conn.close()
