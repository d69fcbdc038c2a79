"""`make bench`'s harness works end to end: it starts a real server, drives every scenario with
wrk and reports rates. Only that it ran and measured something is checked, never a timing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
from bench.peers import PEER_TARGETS
from bench.scenarios import SCENARIOS

from tests.e2e.server import REPO

pytestmark = pytest.mark.e2e

ROW = re.compile(r"^(?P<name>[\w@.-]+)\s+(?P<rps>\d+)\s+[\d.]+\s+[\d.]+\s+(?P<errors>\d+)\s")


def test_the_bench_smoke_run_measures_every_scenario() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed (.ci/run installs it from Debian's packages)")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
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


def test_make_profile_records_a_speedscope_profile_of_the_live_server() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--profile", "floor", "--duration", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    path = REPO / "bench" / "results" / "profiles" / "floor-uvicorn.speedscope.json"
    profile = json.loads(path.read_text(encoding="utf-8"))
    assert profile["$schema"].startswith("https://www.speedscope.app/")
    assert profile["profiles"][0]["samples"]  # the server was sampled while under load
