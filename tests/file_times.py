"""How long each test file took, in wall time and in CPU time (the test process and the
processes it started and waited for: servers, CLI commands, browsers), summed on the controller
over set-up, calls and tear-down, so a module's server start counts. The ten longest are printed
at the end of a run and all are written to ``var/test-times.txt`` (ignored by git), which is what
``LONGEST_FIRST`` in ``conftest`` is ordered by. Wall time grows when the machine is busy; CPU
time is what the two cores must do whatever the order.
"""

from __future__ import annotations

import resource
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path
from typing import Final

import pytest

OUTPUT: Final = Path("var/test-times.txt")
#: ``make test`` runs the fault injection after the main run: its times go beside, not over.
FAULTS_OUTPUT: Final = Path("var/test-times-faults.txt")
SHOWN: Final = 10
_CPU: Final = "cpu_s"
_wall: defaultdict[str, float] = defaultdict(float)
_cpu: defaultdict[str, float] = defaultdict(float)
_last_cpu = [0.0]


def _cpu_now() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """The CPU used since the previous report (this phase, give or take the gap between tests)."""
    report = yield
    now = _cpu_now()
    if _last_cpu[0]:
        report.user_properties.append((_CPU, round(now - _last_cpu[0], 3)))
    _last_cpu[0] = now
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _wall[path] += report.duration
    _cpu[path] += sum(float(str(v)) for k, v in report.user_properties if k == _CPU)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if hasattr(config, "workerinput") or not _wall:  # an xdist worker, or nothing ran
        return
    ranked = sorted(_wall.items(), key=lambda item: -item[1])
    output = FAULTS_OUTPUT if config.getoption("markexpr") == "faults" else OUTPUT
    output.parent.mkdir(exist_ok=True)
    output.write_text(
        "    wall      cpu  file\n"
        + "".join(f"{wall:8.1f} {_cpu[path]:8.1f}  {path}\n" for path, wall in ranked)
    )
    terminalreporter.write_sep("-", f"longest test files, wall and CPU seconds (all in {output})")
    for path, wall in ranked[:SHOWN]:
        terminalreporter.write_line(f"{wall:8.1f} {_cpu[path]:8.1f}  {path}")
