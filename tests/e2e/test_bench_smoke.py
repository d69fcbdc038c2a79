"""`make bench`'s harness works end to end: it starts a real server, drives every scenario with
wrk and reports rates. Only that it ran and measured something is checked, never a timing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.in_process import IN_PROCESS
from bench.peers import PEER_TARGETS
from bench.scenarios import SCENARIOS

from tests.e2e.server import REPO

pytestmark = pytest.mark.e2e

ROW = re.compile(r"^(?P<name>[\w@.-]+)\s+(?P<rps>\d+)\s+[\d.]+\s+[\d.]+\s+(?P<errors>\d+)\s")


def test_the_bench_smoke_run_measures_every_scenario() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (.ci/run installs it from Debian's packages)")
    in_process = set(IN_PROCESS)
    if not os.environ.get("TOKEND_TEST_DATABASE_URL") or not os.environ.get(
        "TOKEND_TEST_REDIS_URL"
    ):
        in_process.discard("vault_refresh_sweep")  # it needs PostgreSQL and Redis, as in CI
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--smoke",
            "--scenarios",
            ",".join([*SCENARIOS, *sorted(in_process)]),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    measured = {
        match["name"]: (int(match["rps"]), int(match["errors"]))
        for match in map(ROW.match, done.stdout.splitlines())
        if match is not None
    }
    # Every scenario, and the node-oidc-provider peer's counterpart of those it is compared on.
    peers = {f"{name}@node-oidc-provider" for name in PEER_TARGETS}
    assert set(measured) == set(SCENARIOS) | peers
    for name, (rps, errors) in measured.items():
        assert rps > 0, name
        assert errors == 0, name
    # Start-up and memory of the all-in-one server and of a gateway-only process.
    for role in ("uvicorn", "uvicorn --only gateway"):
        line = rf"^{role}: start-up [1-9]\d* ms to first 200 .*, [1-9]\d* MB resident"
        assert re.search(line, done.stdout, re.M), role
    # Paced runs report the rate they reached and their p99.
    for name in (n for n, s in SCENARIOS.items() if s.pace_of is not None):
        assert re.search(rf"^{name}: p99 [\d.]+ ms at [1-9]\d* rps", done.stdout, re.M), name
    # In-process scenarios print one line each with what they measured.
    if "guard_validate" in in_process:
        for alg in ("es256", "rs256"):
            assert re.search(rf"^guard_validate_{alg}: 0\.\d+ of raw", done.stdout, re.M), alg
    if "vault_refresh_sweep" in in_process:
        sweep = re.search(
            r"^vault_refresh_sweep: ([\d.]+) refreshes/s, 0 duplicate", done.stdout, re.M
        )
        assert sweep is not None, done.stdout[-2000:]
        assert float(sweep[1]) > 0


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
    path = tmp_path / "profiles" / "floor-uvicorn.speedscope.json"
    profile = json.loads(path.read_text(encoding="utf-8"))
    assert profile["$schema"].startswith("https://www.speedscope.app/")
    assert profile["profiles"][0]["samples"]  # the server was sampled while under load
    # The committed text summary: the event loop's thread, with the request path in it.
    text = (tmp_path / "profile-summaries" / "floor-uvicorn.txt").read_text(encoding="utf-8")
    assert text.startswith("Thread ")
    assert '"MainThread"' in text.splitlines()[0]
    assert "RequestContextMiddleware.__call__ (tokend/obs/middleware.py)" in text
