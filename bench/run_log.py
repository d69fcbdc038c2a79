"""The results log: one JSON line per scenario of every full run, appended, never rewritten.

``bench/results/runs.jsonl`` (a smoke run writes its own, in an ignored folder). Each line is a
result row (``scenario``, its ``variant`` when it has several, such as a data size, its
headline ``metric`` and the numbers) with the run it belongs to: its id (start time), git
commit, the machine's CPU count and load before and after, and the run's settings. The README
and the charts are drawn from the last comparable runs of this log (bench.readme,
bench.charts), so a lucky run cannot stand alone.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import REPO, git_sha

LOG_NAME = "runs.jsonl"
#: The README's spread covers this many of the latest comparable runs.
SPREAD_RUNS = 5
#: Fewer comparable runs than this and the README says its figures are not a spread yet.
MIN_RUNS = 3

Row = dict[str, object]


@dataclass(frozen=True, slots=True)
class Run:
    """One run's lines: what is common to them (``info``) and its rows by key."""

    info: Mapping[str, object]
    rows: Mapping[str, Row]

    @property
    def settings(self) -> object:
        return self.info.get("settings")

    @property
    def errors(self) -> int:
        return sum(_int(row.get("errors")) for row in self.rows.values())


def key(row: Mapping[str, object]) -> str:
    """A row's name in the log: ``scenario``, or ``scenario@variant`` for one of several."""
    variant = row.get("variant")
    return f"{row['scenario']}" if variant in (None, "") else f"{row['scenario']}@{variant}"


def run_info(server: str, settings: Mapping[str, object]) -> dict[str, object]:
    """What every line of a run starting now carries; ``finish`` adds the load at its end."""
    load = os.getloadavg()
    return {
        "run": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha() + ("+dirty" if _tree_is_dirty() else ""),
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in load],
        "server": server,
        "settings": dict(settings),
    }


def finish(info: Mapping[str, object]) -> dict[str, object]:
    """``info`` with the 1-minute load average at the run's end."""
    return {**info, "load_after": round(os.getloadavg()[0], 2)}


def append(path: Path, info: Mapping[str, object], rows: Iterable[Row]) -> int:
    """Append one line per row to the log at ``path``; the number of lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({**info, **row}, sort_keys=False) for row in rows]
    with path.open("a", encoding="utf-8") as log:
        for line in lines:
            log.write(line + "\n")
    return len(lines)


def read_runs(path: Path) -> list[Run]:
    """Every run in the log, oldest first (an absent log has none)."""
    if not path.exists():
        return []
    order: list[str] = []
    infos: dict[str, dict[str, object]] = {}
    rows: dict[str, dict[str, Row]] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        if not text.strip():
            continue
        line: Row = json.loads(text)
        run = str(line["run"])
        if run not in infos:
            order.append(run)
            infos[run] = {k: line[k] for k in _INFO_KEYS if k in line}
            rows[run] = {}
        rows[run][key(line)] = {k: v for k, v in line.items() if k not in _INFO_KEYS}
    return [Run(infos[run], rows[run]) for run in order]


_INFO_KEYS = ("run", "git_sha", "cores", "load_before", "load_after", "server", "settings")


def comparable(runs: Sequence[Run], limit: int = SPREAD_RUNS) -> list[Run]:
    """The latest ``limit`` runs made with the same settings as the latest one (durations,
    rounds, connections, peers, server), oldest first: what one spread may combine. The set of
    scenarios may differ: a scenario added to the bench does not erase the others' history, and
    each row's spread is over the runs that measured it (``values`` skips the others)."""
    if not runs:
        return []
    latest = runs[-1]
    same = [
        r
        for r in runs
        if _measuring(r.settings) == _measuring(latest.settings)
        and r.info.get("server") == latest.info.get("server")
    ]
    return same[-limit:]


def _measuring(settings: object) -> object:
    """The settings that change what a figure means (all but the list of scenarios)."""
    if not isinstance(settings, dict):
        return settings
    return {k: v for k, v in settings.items() if k != "scenarios"}


@dataclass(frozen=True, slots=True)
class Spread:
    low: float
    median: float
    high: float
    count: int

    def text(self, digits: int = 0) -> str:
        """``median`` alone for one value, else ``min-median-max``."""
        if self.count == 1:
            return f"{self.median:.{digits}f}"
        return f"{self.low:.{digits}f}\u2013{self.median:.{digits}f}\u2013{self.high:.{digits}f}"


def spread(values: Iterable[float]) -> Spread | None:
    """Min, median and max of ``values`` (None when there are none)."""
    numbers = sorted(values)
    if not numbers:
        return None
    return Spread(numbers[0], statistics.median(numbers), numbers[-1], len(numbers))


def values(runs: Sequence[Run], name: str, field: str) -> list[float]:
    """``field`` of row ``name`` in each of ``runs`` that has it as a number."""
    found = []
    for run in runs:
        value = run.rows.get(name, {}).get(field)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(float(value))
    return found


def median_row(runs: Sequence[Run], name: str) -> Row | None:
    """Row ``name`` of the run whose headline ``metric`` is the median (the lower of the middle
    two for an even count): one real row to describe, never a blend of several."""
    rows = [run.rows[name] for run in runs if name in run.rows]
    scored = [(value, row) for row in rows if (value := _headline(row)) is not None]
    if not scored:
        return rows[-1] if rows else None
    scored.sort(key=lambda pair: pair[0])
    return scored[(len(scored) - 1) // 2][1]


def _headline(row: Row) -> float | None:
    return _float(row.get(str(row.get("metric"))))


def _float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _tree_is_dirty() -> bool:
    """Whether the checkout has uncommitted changes to tracked files (results aside)."""
    try:
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return bool(status.strip())
