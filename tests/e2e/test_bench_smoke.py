"""`make bench`'s harness works end to end: it starts a real server, drives every scenario with
wrk and reports rates. Only that it ran and measured something is checked, never a timing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from bench.scenarios import SCENARIOS

from tests.e2e.server import REPO

pytestmark = pytest.mark.e2e

ROW = re.compile(r"^(?P<name>\w+)\s+(?P<rps>\d+)\s+[\d.]+\s+[\d.]+\s+(?P<errors>\d+)\s")


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
    assert set(measured) == set(SCENARIOS)
    for name, (rps, errors) in measured.items():
        assert rps > 0, name
        assert errors == 0, name
