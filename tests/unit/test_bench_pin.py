"""``python -m bench --pin``: the servers and peers the bench starts run on CPU 0 and wrk on CPU 1,
so each gets one core of its own. Checked on real processes: a child of the pinned bench and the
wrk it runs report their own CPU affinity (a stand-in ``wrk`` on PATH, which answers as wrk's
Lua ``done()`` does)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from bench.readme import _sharing

from tests.e2e.server import REPO

FAKE_WRK = """\
#!{python}
import json, os, sys
with open(os.environ["WRK_AFFINITY_FILE"], "w") as out:
    json.dump(sorted(os.sched_getaffinity(0)), out)
print("BENCH_JSON " + json.dumps({{"requests": 10, "duration_us": 1000000, "connect": 0,
      "read": 0, "write": 0, "status": 0, "timeout": 0, "p50_us": 1, "p99_us": 2, "max_us": 3}}))
"""

PINNED_BENCH = """\
import os, subprocess, sys
from bench.wrk import pin_cores
from bench.scenarios import Scenario
from bench.wrk import run_wrk
pin_cores()
child = subprocess.run(
    [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
    capture_output=True, text=True, check=True,
).stdout.strip()
result = run_wrk("http://127.0.0.1:9", Scenario("floor", "/health"), duration_s=1, connections=1)
print(child, result.requests)
"""


def run_bench(tmp_path: Path, *, pinned: bool) -> tuple[str, list[int]]:
    """What a child of the bench process printed (its affinity, then wrk's request count), and
    the CPUs the (stand-in) wrk it ran was allowed."""
    fake = tmp_path / "bin" / "wrk"
    fake.parent.mkdir()
    fake.write_text(FAKE_WRK.format(python=sys.executable), encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    affinity_file = tmp_path / "wrk-affinity.json"
    code = PINNED_BENCH if pinned else PINNED_BENCH.replace("pin_cores()\n", "")
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            **os.environ,
            "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
            "WRK_AFFINITY_FILE": str(affinity_file),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip(), json.loads(affinity_file.read_text(encoding="utf-8"))


def test_pinned_the_servers_get_cpu_0_and_wrk_cpu_1(tmp_path: Path) -> None:
    assert (os.cpu_count() or 1) >= 2, "the bench's --pin needs 2 CPUs"
    printed, wrk_cpus = run_bench(tmp_path, pinned=True)
    # A process the bench starts (a server, the peer) inherits CPU 0 alone; wrk ran (10
    # requests read from its line) on the other core.
    assert printed == "[0] 10"
    assert wrk_cpus == [1]


def test_unpinned_every_process_may_run_on_every_cpu(tmp_path: Path) -> None:
    everywhere = sorted(os.sched_getaffinity(0))
    printed, wrk_cpus = run_bench(tmp_path, pinned=False)
    assert printed == f"{everywhere} 10"
    assert wrk_cpus == everywhere


def test_the_readme_says_whether_a_run_was_pinned() -> None:
    assert _sharing({"pinned": "servers on CPU 0, wrk on CPU 1"}) == (
        "pinned (servers on CPU 0, wrk on CPU 1)"
    )
    assert _sharing({"connections": 32}) == "shared by server and wrk"
