"""`make bench`'s harness works end to end: it starts real servers, drives every scenario with
wrk, measures how cost grows with data, logs every row, draws the charts and the README section,
and fails a run that had errors. Only that it ran and measured something is checked, never a
timing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from bench import charts, readme
from bench.growth import GROWTH, NEEDS_POSTGRES
from bench.in_process import IN_PROCESS
from bench.measure import alternate
from bench.peers import PEER_TARGETS
from bench.process import raw_server
from bench.report import errors_message, rows
from bench.run_log import LOG_NAME, append, comparable, read_runs
from bench.scenarios import SCENARIOS, WORKERS, Scenario
from bench.wrk import PreflightFailed, run_wrk

from tests.e2e.server import REPO
from tokend.server.settings import ServerSettings

pytestmark = pytest.mark.e2e

ROW = re.compile(r"^(?P<name>[\w@.-]+)\s+(?P<rps>\d+)\s+[\d.]+\s+[\d.]+\s+(?P<errors>\d+)\s")
SMOKE_RESULTS = REPO / "var" / "bench-smoke"


def tracked_changes() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_the_bench_smoke_run_measures_every_scenario_and_logs_and_draws_it() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (.ci/run installs it from Debian's packages)")
    growth = set(GROWTH)
    scenarios = set(SCENARIOS)
    if not os.environ.get("TOKEND_TEST_DATABASE_URL") or not os.environ.get(
        "TOKEND_TEST_REDIS_URL"
    ):
        growth -= NEEDS_POSTGRES  # they need PostgreSQL and Redis, as in CI
        scenarios -= {name for name, s in SCENARIOS.items() if s.process == "postgres"}
    log = SMOKE_RESULTS / LOG_NAME
    lines_before = len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0
    tracked_before = tracked_changes()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--scenarios",
            ",".join([*sorted(scenarios), *IN_PROCESS, *sorted(growth)]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + server_logs(done.stderr)
    # A smoke run writes under var/bench-smoke only: no tracked file (results, README, charts).
    assert tracked_changes() == tracked_before
    measured = {
        match["name"]: (int(match["rps"]), int(match["errors"]))
        for match in map(ROW.match, done.stdout.splitlines())
        if match is not None
    }
    # Every scenario (the raw ASGI ping and the gateway-only floor among them), and the
    # node-oidc-provider peer's counterpart of those it is compared on.
    peers = {f"{name}@node-oidc-provider" for name in PEER_TARGETS if name in scenarios}
    assert set(measured) == scenarios | peers
    for name, (rps, errors) in measured.items():
        assert rps > 0, name
        assert errors == 0, name
    assert re.search(
        r"^floor: [\d.]+ of a raw ASGI ping's rps on the same server", done.stdout, re.M
    )
    # tokend's client_credentials against the same grant in a bare ASGI app, and that against
    # the peer, in the same run.
    ceiling = (
        r"^oidc_client_credentials: [\d.]+ of the same grant in a bare ASGI app on the same "
        r"server \(raw_asgi_client_credentials: .*, [\d.]+x node-oidc-provider's rps\)"
    )
    assert re.search(ceiling, done.stdout, re.M)
    # Start-up and memory of the all-in-one server and of a gateway-only process.
    shipping = ServerSettings().server  # what a run measures unless told otherwise
    for role in (shipping, f"{shipping} --only gateway"):
        line = rf"^{role}: start-up [1-9]\d* ms to first 200 .*, [1-9]\d* MB resident"
        assert re.search(line, done.stdout, re.M), role
    # Paced runs report the rate they reached and their p99.
    for name in (n for n, s in SCENARIOS.items() if s.pace_of is not None):
        assert re.search(rf"^{name}: p99 [\d.]+ ms at [1-9]\d* rps", done.stdout, re.M), name
    # The same scenarios on a two-worker process, against one worker's rate in the same run.
    for name in ("floor", "oidc_client_credentials"):
        line = rf"^{name}: {WORKERS} workers [\d.]+x one worker's rps \(target ≥ 1.6\)"
        assert re.search(line, done.stdout, re.M), name
    for alg in ("es256", "rs256"):
        assert re.search(rf"^guard_validate_{alg}: 0\.\d+ of raw", done.stdout, re.M), alg
    # Refresh on PostgreSQL and Redis (as deploy/compose.yaml runs the provider) against the
    # peer's refresh on its in-memory adapter.
    if "oidc_refresh_postgres" in scenarios:
        line = r"^oidc_refresh_postgres: [\d.]+x node-oidc-provider's rps \(target ≥ 1.0\)"
        assert re.search(line, done.stdout, re.M)
    # `make run`'s server (tokend serve --demo) on the same requests to the same peer.
    for name in ("oidc_client_credentials_demo", "oidc_introspect_demo"):
        line = rf"^{name}: [\d.]+x node-oidc-provider's rps \(target ≥ 1.5\)"
        assert re.search(line, done.stdout, re.M), name

    # The log got one line per row of this run, each with the run's machine and settings.
    lines = log.read_text(encoding="utf-8").splitlines()[lines_before:]
    logged = [json.loads(line) for line in lines]
    assert len({row["run"] for row in logged}) == 1
    names = {row["scenario"] for row in logged}
    assert names >= scenarios | peers | {"process", "guard_validate_es256"}
    for row in logged:
        assert {"git_sha", "cores", "load_before", "load_after", "settings"} <= set(row), row
        assert row["errors"] == 0, row
    # Every growth family measured at two sizes or more, each size a figure above zero.
    families: dict[str, set[int]] = {row["family"]: set() for row in logged if "size" in row}
    for row in logged:
        if "size" in row:
            families[row["family"]].add(row["size"])
            assert row[row["metric"]] > 0, row
    assert set(families) == growth
    assert all(len(sizes) >= 2 for sizes in families.values()), families
    # How each grew is said, with why.
    for family in growth:
        assert re.search(
            rf"^{family}[.\w]*: \u00d7[\d,]+ data, cost \u00d7[\d.]+ \(\w", done.stdout, re.M
        )

    # Charts: one SVG per family, each a document with bars; the README section beside them.
    drawn = sorted(SMOKE_RESULTS.glob("charts/*.svg"))
    assert {path.stem for path in drawn} >= {"capabilities", "oidc", "gateway", *growth}
    for path in drawn:
        svg = ElementTree.parse(path).getroot()  # noqa: S314  (our own file)
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) > 2, path
    section = (SMOKE_RESULTS / "README-section.md").read_text(encoding="utf-8")
    assert section.startswith(readme.START)
    assert "| errors |" in section
    assert "(charts/oidc.svg)" in section


def test_a_scenario_that_errs_stops_the_run_and_says_which_kind(tmp_path: Path) -> None:
    with raw_server("uvicorn") as server:
        # A static request is sent once before it is measured and must answer 2xx.
        missing = Scenario("missing", "/missing")
        with pytest.raises(PreflightFailed, match=r"missing: GET /missing answered 404"):
            alternate([(server.base_url, missing)], duration_s=1, rounds=1, connections=2)
        # Built by Lua (no pre-flight): wrk's own count, by kind, makes the row.
        built = Scenario("built", "/missing", lua_request="return wrk.format()")
        result = run_wrk(server.base_url, built, duration_s=1, connections=2)
        floor = run_wrk(server.base_url, Scenario("floor", "/health"), duration_s=1, connections=2)
    assert result.errors == result.requests > 0
    assert dict(result.error_kinds) == {"status": result.errors}
    assert floor.errors == 0
    table = rows({"floor": floor, "built": result}, "uvicorn", 1.0, 1, 2, smoke=True)
    message = errors_message(table)
    assert message is not None
    assert f"built: {result.errors} errors (status {result.errors})" in message
    assert errors_message(table[:1]) is None


def _row(scenario: str, rps: float, **extra: object) -> dict[str, object]:
    return {"scenario": scenario, "metric": "rps", "rps": rps, "p50_ms": 1.0, "p99_ms": 2.0,
            "errors": 0, "family": "capabilities", **extra}  # fmt: skip


def test_the_readme_section_shows_the_spread_of_the_last_comparable_runs(tmp_path: Path) -> None:
    log = tmp_path / LOG_NAME
    quiet = {"connections": 32, "duration_s": 5.0, "rounds": 3}
    runs = [
        # An older run with other settings: not comparable, left out of the spread.
        ({"connections": 8, "duration_s": 1.0, "rounds": 1}, 9000.0, 0),
        (quiet, 300.0, 0),
        (quiet, 100.0, 4),
        (quiet, 200.0, 0),
    ]
    for i, (settings, rps, errors) in enumerate(runs):
        info = {
            "run": f"2026-01-0{i + 1}T00:00:00+00:00",
            "git_sha": "abc1234",
            "cores": 2,
            "load_before": [0.5, 0.4, 0.3],
            "server": "uvicorn",
            "settings": settings,
        }
        rows_of_run = [
            _row("floor", 2 * rps, ratio_to_floor=1.0),
            _row("jwks", rps, errors=errors, ratio_to_floor=0.5, target_ratio=0.8),
            {"scenario": "telco_lookup.lookup", "variant": "1000", "family": "telco_lookup",
             "size": 1000, "size_label": "1,000 prefixes", "metric": "lookup_us",
             "unit": "µs", "lookup_us": 1.0, "errors": 0, "why": "a trie walk"},
            {"scenario": "telco_lookup.lookup", "variant": "100000", "family": "telco_lookup",
             "size": 100000, "size_label": "100,000 prefixes", "metric": "lookup_us",
             "unit": "µs", "lookup_us": 3.0, "errors": 0, "why": "a trie walk"},
        ]  # fmt: skip
        append(log, info, rows_of_run)
    # A later run with one scenario more (the bench grew) is comparable: the others keep their
    # history, and the new row is shown over the one run that measured it.
    grown = {**quiet, "scenarios": ["floor", "jwks", "added"]}
    info = {"run": "2026-01-05T00:00:00+00:00", "git_sha": "def5678", "cores": 2,
            "load_before": [0.5, 0.4, 0.3], "server": "uvicorn", "settings": grown}  # fmt: skip
    append(log, info, [_row("floor", 500.0, ratio_to_floor=1.0),
                       _row("jwks", 250.0, ratio_to_floor=0.5, target_ratio=0.8),
                       _row("added", 125.0, ratio_to_floor=0.25), *rows_of_run[2:]])  # fmt: skip
    chosen = comparable(read_runs(log))
    assert len(chosen) == 4
    drawn = charts.draw(chosen, tmp_path / "charts")
    text = readme.section(chosen, drawn, "charts")
    jwks = next(line for line in text.splitlines() if line.startswith("| ") and "| jwks |" in line)
    cells = [cell.strip() for cell in jwks.strip("|").split("|")]
    # rps min-median-max over the four comparable runs, never the best alone; errors summed.
    assert cells[2] == "100\u2013225\u2013300"
    assert cells[5] == "4"
    added = next(line for line in text.splitlines() if "| added |" in line)
    assert [cell.strip() for cell in added.strip("|").split("|")][2] == "125"
    assert "Added to the bench since: added, each shown over the runs that measured it" in text
    assert "4 errors in these runs" in text
    assert "fewer than 3" not in text
    assert "telco_lookup.lookup: \u00d7100 data, cost \u00d73.00 (sub-linear" in text
    assert "![telco_lookup](charts/telco_lookup.svg)" in text
    svg = ElementTree.parse(tmp_path / "charts" / "capabilities.svg").getroot()  # noqa: S314
    whiskers = svg.findall("{http://www.w3.org/2000/svg}line")
    assert len(whiskers) == 6  # floor and jwks: a min-max line and two caps each
    # Two comparable runs are not a spread yet, and the section says so.
    assert "fewer than 3, so these figures are not yet a spread" in readme.section(
        chosen[-2:], [], "charts"
    )
    assert "No full run is logged yet" in readme.section([], [], "charts")


def server_logs(stderr: str) -> str:
    """The end of each server's log that a failed run printed (``bench.process``: every server
    it started, last started first), then the end of the rest: the last 3,000 characters alone
    held only the first server's, not the one that failed."""
    head, *logs = stderr.split("\n--- ")
    ends = [f"--- {log[:200]} [...] {log[-1500:]}" if len(log) > 1700 else f"--- {log}"
            for log in logs]  # fmt: skip
    return "\n".join([head[-1500:], *ends])


def test_make_profile_records_a_speedscope_profile_of_the_live_server(tmp_path: Path) -> None:
    # Into a folder of the test's own: bench/results/profile-summaries is committed.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "floor", "--duration", "1"],
        env={**os.environ, "TOKEND_BENCH_PROFILE_DIR": str(tmp_path)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    server = ServerSettings().server  # the profile's server: the default
    path = tmp_path / "profiles" / f"floor-{server}.speedscope.json"
    profile = json.loads(path.read_text(encoding="utf-8"))
    assert profile["$schema"].startswith("https://www.speedscope.app/")
    assert profile["profiles"][0]["samples"]  # the server was sampled while under load
    # The committed text summary: the event loop's thread, with the request path in it.
    text = (tmp_path / "profile-summaries" / f"floor-{server}.txt").read_text(encoding="utf-8")
    assert text.startswith("Thread ")
    assert '"MainThread"' in text.splitlines()[0]
    assert "RequestContextMiddleware.__call__ (tokend/obs/middleware.py)" in text
