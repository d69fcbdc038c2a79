"""The README's performance section, drawn from the results log: the spread (min-median-max) of
the last comparable full runs, never one run's best."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.growth import verdict
from bench.in_process import lines as in_process_lines
from bench.report import (
    ceiling_lines,
    overhead_lines,
    pacing_lines,
    peer_lines,
    process_line,
    raw_lines,
    workers_lines,
)
from bench.run_log import MIN_RUNS, Row, Run, Spread, median_row, spread, values

START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def section(runs: Sequence[Run], charts: Sequence[Path], chart_base: str) -> str:
    """The text between the markers for ``runs`` (comparable, oldest first) and ``charts``
    (shown as images at ``chart_base``/name)."""
    if not runs:
        return "\n".join([
            START,
            "No full run is logged yet (`bench/results/runs.jsonl`). `make bench` appends one "
            "line per scenario to that log and redraws this section and the charts from its "
            f"last runs; run it at least {MIN_RUNS} times on a quiet machine for a spread.",
            END,
        ])  # fmt: skip
    lines = [START, *_header(runs), ""]
    names = list(runs[-1].rows)
    http = [n for n in names if _is_http(runs[-1].rows[n])]
    lines += _http_table(runs, http)
    lines += _sentences(runs, http, names)
    growth = [n for n in names if "size" in runs[-1].rows[n]]
    if growth:
        lines += ["", "**How cost grows with data** (each size in the same run):", ""]
        lines += _growth_table(runs, growth)
        lines += [""] + [f"- {text}" for text in _growth_verdicts(runs, growth)]
    if charts:
        lines += ["", "Charts (bars: median; whiskers: min\u2013max over the same runs):", ""]
        lines += [f"![{chart.stem}]({chart_base}/{chart.name})" for chart in charts]
    lines.append(END)
    return "\n".join(lines)


def update(readme: Path, text: str) -> bool:
    """Replace the section in ``readme``; False when its markers are missing."""
    content = readme.read_text(encoding="utf-8")
    if START not in content or END not in content:
        return False
    head, rest = content.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + text + tail, encoding="utf-8")
    return True


def _sharing(settings: Mapping[str, object]) -> str:
    pinned = settings.get("pinned")
    return f"pinned ({pinned})" if pinned else "shared by server and wrk"


def _header(runs: Sequence[Run]) -> list[str]:
    latest = runs[-1].info
    settings = latest.get("settings")
    s = settings if isinstance(settings, dict) else {}
    loads = [load for run in runs if (load := _load_at_start(run)) is not None]
    shas = list(dict.fromkeys(str(run.info.get("git_sha")) for run in runs))
    errors = sum(run.errors for run in runs)
    text = [
        f"Spread over the last {len(runs)} full run{'s' if len(runs) > 1 else ''} with the same "
        f"settings (min\u2013median\u2013max; {runs[0].info['run']} to {latest['run']}, git "
        f"{', '.join(shas)}), {latest.get('cores')} cores {_sharing(s)}, 1-minute "
        f"load at the start {_range(loads)}. Each run: {latest.get('server')}, "
        f"{s.get('connections')} connections, median of {s.get('rounds')} alternating rounds "
        f"of {s.get('duration_s')} s per scenario, shipping settings unless a row says "
        "otherwise. Compare ratios, not absolute numbers.",
    ]
    newer = sorted(_measured_by_fewer(runs))
    if newer:
        text.append(
            f"\nAdded to the bench since: {', '.join(newer)}, each shown over the runs that "
            "measured it (one figure where a single run did)."
        )
    if len(runs) < MIN_RUNS:
        text.append(
            f"\n**Only {len(runs)} comparable run{'s' if len(runs) > 1 else ''} in the log: "
            f"fewer than {MIN_RUNS}, so these figures are not yet a spread.**"
        )
    if errors:
        text.append(
            f"\n**{errors} errors in these runs** (column `errors`): such a run exits non-zero; "
            "its figures are shown, not trusted."
        )
    return text


def _measured_by_fewer(runs: Sequence[Run]) -> set[str]:
    """The latest run's rows that some of ``runs`` did not measure (scenarios added since)."""
    return {
        str(row.get("scenario"))
        for name, row in runs[-1].rows.items()
        if any(name not in run.rows for run in runs)
    }


def _load_at_start(run: Run) -> float | None:
    load = run.info.get("load_before")
    if isinstance(load, list) and load and isinstance(load[0], int | float):
        return float(load[0])
    return None


def _range(numbers: Sequence[float]) -> str:
    if not numbers:
        return "unknown"
    low, high = min(numbers), max(numbers)
    return f"{low:.1f}" if low == high else f"{low:.1f}\u2013{high:.1f}"


def _is_http(row: Row) -> bool:
    return row.get("metric") == "rps" and "size" not in row and row.get("scenario") != "process"


def _http_table(runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    lines = [
        "| process | scenario | rps | p50 ms | p99 ms | errors | x floor | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        row = runs[-1].rows[name]
        target = row.get("target_ratio")
        lines.append(
            f"| {row.get('process', '')} | {name} | {_spread(runs, name, 'rps')} | "
            f"{_median(runs, name, 'p50_ms', 2)} | {_spread(runs, name, 'p99_ms', 1)} | "
            f"{_errors(runs, name)} | {_median(runs, name, 'ratio_to_floor', 2)} | "
            f"{'—' if target is None else f'≥ {target}'} |"
        )
    return lines


def _sentences(runs: Sequence[Run], http: Sequence[str], names: Sequence[str]) -> list[str]:
    """The one-run sentences, each from the run whose headline is the median, with spreads."""
    out: list[str] = []
    medians = [r for n in http if (r := median_row(runs, n)) is not None]
    for line in raw_lines(medians):
        out.append(line + _spread_note(runs, "floor", "floor_to_raw", 2))
    for median in medians:
        for line in overhead_lines([median]):
            out.append(line + _spread_note(runs, _key(median), "overhead_p50_ms", 2))
        for line in pacing_lines([median]):
            out.append(line + _spread_note(runs, _key(median), "p99_ms", 1))
        for line in workers_lines([median]):
            out.append(line + _spread_note(runs, _key(median), "ratio_to_one_worker", 2))
    for name in (n for n in http if "ratio_to_peer" in runs[-1].rows[n]):
        row = median_row(runs, name)
        if row is not None:
            out += [
                line + _spread_note(runs, name, "ratio_to_peer", 2) for line in peer_lines([row])
            ]
            out += [
                line + _spread_note(runs, name, "ceiling_reached", 2)
                for line in ceiling_lines([row])
            ]
    for name in (n for n in names if runs[-1].rows[n].get("scenario") == "process"):
        row = median_row(runs, name)
        if row is not None:
            line = process_line(str(row.get("variant")), row)
            if len(runs) > 1:
                line += (
                    f"; spread start-up {_spread(runs, name, 'startup_ms')} ms, memory "
                    f"{_spread(runs, name, 'rss_mb')} MB"
                )
            out.append(line)
    guard = [r for n in names if n.startswith("guard_validate") and (r := median_row(runs, n))]
    for row, line in zip(guard, in_process_lines(guard), strict=True):
        out.append(line + _spread_note(runs, _key(row), "ratio", 3))
    return [""] + [f"- {line}" for line in out] if out else []


def _growth_table(runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    lines = [
        "| scenario | size | figure | p99 ms | errors | notes |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for name in names:
        row = runs[-1].rows[name]
        metric = str(row.get("metric"))
        digits = _digits(float(str(row.get(metric, 0) or 0)))
        p99 = _median(runs, name, "p99_ms", 1) if "p99_ms" in row else "—"
        lines.append(
            f"| {row.get('scenario')} | {row.get('size_label')} | "
            f"{_spread(runs, name, metric, digits)} {row.get('unit')} | {p99} | "
            f"{_errors(runs, name)} | {_notes(row)} |"
        )
    return lines


def _digits(value: float) -> int:
    """Decimals that keep about three significant digits of ``value``."""
    return 0 if value >= 100 else 1 if value >= 10 else 2 if value >= 1 else 3


def _notes(row: Row) -> str:
    notes = []
    tuned = row.get("tuned")
    if isinstance(tuned, dict):
        notes.append(
            "tuned: "
            + ", ".join(
                f"{name} {v.get('bench')} (shipping {v.get('shipping')})"
                for name, v in tuned.items()
                if isinstance(v, dict)
            )
        )
    for field, label in (("settings", ""), ("bulk_load_s", "")):
        if field in row and row[field] not in (None, ""):
            value = row[field]
            notes.append(
                f"bulk-loaded in {value} s" if field == "bulk_load_s" else f"{label}{value}"
            )
    if "document_bytes" in row:
        notes.append(f"{row['document_bytes']} bytes")
    if row.get("peak_mb") is not None:
        notes.append(f"{row['peak_mb']} MB more at the peak, while parsing")
    return "; ".join(notes)


def _growth_verdicts(runs: Sequence[Run], names: Sequence[str]) -> list[str]:
    by_scenario: dict[str, list[str]] = {}
    for name in names:
        by_scenario.setdefault(str(runs[-1].rows[name].get("scenario")), []).append(name)
    out = []
    for scenario, group in by_scenario.items():
        points = []
        for name in group:
            row = runs[-1].rows[name]
            found = spread(values(runs, name, str(row.get("metric"))))
            size = row.get("size")
            if found is not None and isinstance(size, int | float):
                points.append((float(size), found.median))
        result = verdict(scenario, points, runs[-1].rows[group[0]])
        if result is not None:
            out.append(result.text())
    return out


def _key(row: Row) -> str:
    variant = row.get("variant")
    return f"{row['scenario']}" if variant in (None, "") else f"{row['scenario']}@{variant}"


def _spread(runs: Sequence[Run], name: str, field: str, digits: int = 0) -> str:
    found: Spread | None = spread(values(runs, name, field))
    return "—" if found is None else found.text(digits)


def _spread_note(runs: Sequence[Run], name: str, field: str, digits: int) -> str:
    """``; spread min-median-max`` over ``runs``, or nothing for a single value."""
    found = spread(values(runs, name, field))
    return "" if found is None or found.count < 2 else f"; spread {found.text(digits)}"


def _median(runs: Sequence[Run], name: str, field: str, digits: int) -> str:
    found = spread(values(runs, name, field))
    return "—" if found is None else f"{found.median:.{digits}f}"


def _errors(runs: Sequence[Run], name: str) -> str:
    return f"{sum(values(runs, name, 'errors')):.0f}"
