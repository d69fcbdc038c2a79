"""One run's rows (as written to bench/results and the log) and its console report."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from bench import git_sha
from bench.peers import PEER_TARGETS
from bench.run_log import Row
from bench.scenarios import (
    CEILING_OF,
    FLOORS,
    RAW_PING,
    SCENARIOS,
    WORKERS,
    WORKERS_TARGET,
    Scenario,
)
from bench.wrk import WrkResult

#: The issue's target for the floor through the whole tokend stack over a raw ASGI ping.
FLOOR_TO_RAW_TARGET = 0.5


def rows(
    results: Mapping[str, WrkResult],
    server: str,
    duration_s: float,
    rounds: int,
    connections: int,
    smoke: bool,
) -> list[Row]:
    """A row per measured scenario (and peer counterpart), in measurement order."""
    common = {
        "server": server,
        "git_sha": git_sha(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "duration_s": duration_s,
        "rounds": rounds,
        "smoke": smoke,
    }
    out: list[Row] = []
    for name, result in results.items():
        scenario = _scenario_of(name)
        floor_name = FLOORS[scenario.process] if scenario is not None else "floor"
        floor = results[floor_name].rps if floor_name in results else 0.0
        numbers = {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(result).items()}
        out.append(
            {
                "scenario": name,
                "family": scenario.family if scenario is not None else "capabilities",
                "process": _process_label(name, scenario, server),
                "metric": "rps",
                "unit": "requests/s",
                **numbers,
                "floor": floor_name,
                "ratio_to_floor": round(result.rps / floor, 3) if floor else None,
                "target_ratio": SCENARIOS[name].target_ratio if name in SCENARIOS else None,
                **_floor_to_raw(name, results),
                **overhead(name, results),
                **versus_peer(name, results),
                **pacing(name),
                **versus_one_worker(name, results),
                **common,
                "connections": (SCENARIOS[name].connections if name in SCENARIOS else None)
                or connections,
            }
        )
    return out


def _scenario_of(name: str) -> Scenario | None:
    """The tokend scenario a result belongs to (a peer's counterpart: the one it mirrors)."""
    return SCENARIOS.get(name.split("@", 1)[0])


def _process_label(name: str, scenario: Scenario | None, server: str) -> str:
    if "@" in name:
        return name.split("@", 1)[1]
    if scenario is None or scenario.process == "all-in-one":
        return f"tokend serve ({server})"
    if scenario.process == "gateway":
        return f"tokend serve --only gateway ({server})"
    if scenario.process == "workers":
        return f"tokend serve --workers {WORKERS} ({server})"
    if scenario.process == "postgres":
        return f"tokend serve --only oidc ({server}, PostgreSQL + Redis)"
    if scenario.process == "demo":
        return f"tokend serve --demo ({server})"
    return f"raw ASGI app ({server})"


def _floor_to_raw(name: str, results: Mapping[str, WrkResult]) -> dict[str, object]:
    """On the floor's row: its rps over the raw ASGI ping's, measured in the same run."""
    raw = results.get(RAW_PING.name)
    if name != "floor" or raw is None or not raw.rps:
        return {}
    return {
        "floor_to_raw": round(results[name].rps / raw.rps, 3),
        "target_floor_to_raw": FLOOR_TO_RAW_TARGET,
    }


def versus_peer(name: str, results: Mapping[str, WrkResult]) -> dict[str, object]:
    """rps and p99 against the peer's counterpart measured in the same run (a ceiling's: the
    counterpart of the tokend scenario it is the ceiling of, with no target)."""
    mirrored = CEILING_OF.get(name, name)
    peer = next((r for n, r in results.items() if n.startswith(f"{mirrored}@")), None)
    if mirrored not in PEER_TARGETS or peer is None or not peer.rps:
        return {}
    # On a ceiling's row: how much of it tokend's own scenario reached in the same run.
    ours = results.get(mirrored) if mirrored != name else None
    ceiling = (
        {"ceiling_of": mirrored, "ceiling_reached": round(ours.rps / results[name].rps, 3)}
        if ours is not None and results[name].rps
        else {}
    )
    return {
        "peer_rps": round(peer.rps, 1),
        "ratio_to_peer": round(results[name].rps / peer.rps, 3),
        "p99_ratio_to_peer": round(results[name].p99_ms / peer.p99_ms, 3) if peer.p99_ms else None,
        "target_ratio_to_peer": PEER_TARGETS.get(name),
        **ceiling,
    }


def versus_one_worker(name: str, results: Mapping[str, WrkResult]) -> dict[str, object]:
    """On a ``workers`` row: its rps over the same scenario's on the one-worker process."""
    scenario = SCENARIOS.get(name)
    if scenario is None or scenario.process != "workers" or scenario.variant_of is None:
        return {}
    one = results.get(scenario.variant_of)
    if one is None or not one.rps:
        return {}
    return {
        "variant_of": scenario.variant_of,
        "ratio_to_one_worker": round(results[name].rps / one.rps, 3),
        "target_ratio_to_one_worker": WORKERS_TARGET,
    }


def workers_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"{row['variant_of']}: {WORKERS} workers {row['ratio_to_one_worker']}x one worker's rps "
        f"(target ≥ {row['target_ratio_to_one_worker']})"
        for row in table
        if "ratio_to_one_worker" in row
    ]


def overhead(name: str, results: Mapping[str, WrkResult]) -> dict[str, object]:
    """p50 above the baseline scenario's, for scenarios that name one."""
    scenario = SCENARIOS.get(name)
    if scenario is None or scenario.baseline is None or scenario.baseline not in results:
        return {}
    extra = results[name].p50_ms - results[scenario.baseline].p50_ms
    return {
        "baseline": scenario.baseline,
        "overhead_p50_ms": round(extra, 3),
        "target_overhead_ms": scenario.target_overhead_ms,
    }


def pacing(name: str) -> dict[str, object]:
    scenario = SCENARIOS.get(name)
    if scenario is None or scenario.pace_of is None:
        return {}
    return {"pace_of": scenario.pace_of, "target_p99_ms": scenario.target_p99_ms}


def raw_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"floor: {row['floor_to_raw']} of a raw ASGI ping's rps on the same server "
        f"(target ≥ {row['target_floor_to_raw']})"
        for row in table
        if "floor_to_raw" in row
    ]


def peer_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"{row['scenario']}: {row['ratio_to_peer']}x node-oidc-provider's rps "
        f"({_peer_target(row)}), p99 {row['p99_ratio_to_peer']}x its p99"
        for row in table
        if "ratio_to_peer" in row
    ]


def ceiling_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"{row['ceiling_of']}: {row['ceiling_reached']} of the same grant in a bare ASGI app on "
        f"the same server ({row['scenario']}: the ceiling of a Python handler for it here, "
        f"{row['ratio_to_peer']}x node-oidc-provider's rps)"
        for row in table
        if "ceiling_reached" in row
    ]


def _peer_target(row: Row) -> str:
    target = row.get("target_ratio_to_peer")
    return "no target" if target is None else f"target ≥ {target}"


def pacing_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"{row['scenario']}: p99 {row['p99_ms']} ms at {_number(row['rps']):.0f} rps "
        f"({row['target_rps']} asked: {_rate_asked(row)}; target p99 < {row['target_p99_ms']} ms)"
        for row in table
        if "pace_of" in row
    ]


def _rate_asked(row: Row) -> str:
    scenario = SCENARIOS[str(row["scenario"])]
    if scenario.rate_of_max is not None:
        return f"{scenario.rate_of_max} of {row['pace_of']}'s rps in this run"
    return "a fixed rate"


def overhead_lines(table: Sequence[Row]) -> list[str]:
    return [
        f"{row['scenario']}: p50 {row['overhead_p50_ms']} ms above {row['baseline']} "
        f"(target < {row['target_overhead_ms']} ms, 1 connection)"
        for row in table
        if "overhead_p50_ms" in row
    ]


def process_row(role: str, stats: Mapping[str, float]) -> Row:
    """A process's start-up and memory as a row of the log (variant: the role)."""
    return {
        "scenario": "process",
        "variant": role,
        "family": "process",
        "metric": "startup_ms",
        "unit": "ms",
        **stats,
        "errors": 0,
    }


def process_line(role: str, stats: Mapping[str, object]) -> str:
    return (
        f"{role}: start-up {_number(stats['startup_ms']):.0f} ms to first 200 (target < 1500; "
        f"{_number(stats['first_start_ms']):.0f} ms for a deployment's first start, which "
        f"generates its keys), {_number(stats['rss_mb']):.0f} MB resident after the load "
        "(target < 120)"
    )


def print_table(server: str, table: Sequence[Row]) -> None:
    print(f"\n{server}: {table[0]['cores']} cores, {table[0]['connections']} connections")
    width = max(28, *(len(str(row["scenario"])) + 2 for row in table))
    print(
        f"{'scenario':<{width}}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'x floor':>9}{'target':>8}"
    )
    for row in table:
        target = row["target_ratio"]
        ratio = row["ratio_to_floor"]
        print(
            f"{row['scenario']!s:<{width}}{_number(row['rps']):>10.0f}"
            f"{_number(row['p50_ms']):>9.2f}{_number(row['p99_ms']):>9.2f}{row['errors']!s:>8}"
            f"{'' if ratio is None else f'{_number(ratio):.2f}':>9}"
            f"{'' if target is None else target!s:>8}"
        )
    for line in [
        *raw_lines(table),
        *overhead_lines(table),
        *pacing_lines(table),
        *peer_lines(table),
        *ceiling_lines(table),
        *workers_lines(table),
    ]:
        print(line)
    sys.stdout.flush()


def errors_message(table: Sequence[Row]) -> str | None:
    """Why a run cannot stand: each row with errors and their kinds, or None when clean."""
    failed = [row for row in table if row.get("errors")]
    if not failed:
        return None
    parts = []
    for row in failed:
        kinds = row.get("error_kinds")
        detail = ", ".join(f"{k} {v}" for k, v in kinds.items()) if isinstance(kinds, dict) else ""
        name = f"{row['scenario']}@{row['variant']}" if row.get("variant") else str(row["scenario"])
        parts.append(f"{name}: {row['errors']} errors" + (f" ({detail})" if detail else ""))
    return (
        "the run had errors, so its numbers do not stand (wrk: connect/read/write are socket "
        "errors, timeout is no answer within 2 s, status is an answer ≥ 400; in-process "
        "scenarios count wrong answers):\n  " + "\n  ".join(parts)
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")
