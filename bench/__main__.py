"""`make bench`: start a production-like `tokend serve`, load it with wrk, report ratios.

Scenarios alternate within each round (floor, jwks, floor, jwks, ...) and each scenario's
result is the median of its rounds, so drift of a shared 2-core machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.e2e.server import REPO

from bench import git_sha
from bench.in_process import IN_PROCESS
from bench.in_process import lines as in_process_lines
from bench.peers import PEER_TARGETS, as_peer, node_oidc_provider
from bench.process import Running, measure_process, production_server, rss_mb
from bench.scenarios import FLOOR, SCENARIOS, Scenario, oidc_prepare
from bench.wrk import WrkResult, require_wrk, run_wrk

RESULTS = REPO / "bench" / "results"
#: Where --profile writes: bench/results, unless the profile test names a folder of its own.
PROFILE_RESULTS = Path(os.environ.get("TOKEND_BENCH_PROFILE_DIR", str(RESULTS)))
PROFILES = PROFILE_RESULTS / "profiles"
#: Text summaries of profiles, small enough to commit (the speedscope files are not).
SUMMARIES = PROFILE_RESULTS / "profile-summaries"
README = REPO / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="1 s per scenario, nothing saved")
    parser.add_argument("--scenarios", default=",".join([*SCENARIOS, *IN_PROCESS]))
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--compare-servers", action="store_true")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--no-peers", action="store_true", help="skip node-oidc-provider (no npm install)"
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="record a py-spy profile of the server under this scenario's load, nothing else",
    )
    args = parser.parse_args()
    require_wrk()
    if args.profile:
        if args.profile not in SCENARIOS:
            raise SystemExit(f"unknown scenario: {args.profile}")
        print(profile(args.server, SCENARIOS[args.profile], args.duration, args.connections))
        return
    names = [n for n in args.scenarios.split(",") if n]
    unknown = sorted(set(names) - set(SCENARIOS) - set(IN_PROCESS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    scenarios = [SCENARIOS[n] for n in dict.fromkeys([FLOOR.name, *names]) if n in SCENARIOS]
    duration = 1.0 if args.smoke else args.duration
    rounds = 1 if args.smoke else args.rounds
    servers = ["uvicorn", "granian"] if args.compare_servers else [args.server]
    report: dict[str, list[dict[str, object]]] = {}
    processes: dict[str, dict[str, float]] = {}
    for server in servers:
        medians, processes[server] = measure(
            server,
            scenarios,
            duration,
            rounds,
            args.connections,
            with_peers=not args.no_peers,
            warm_up=not args.smoke,  # a smoke run's numbers are not read: no need to warm up
        )
        report[server] = rows(medians, server, duration, rounds, args.connections, args.smoke)
        print_table(server, report[server])
        print(process_line(server, processes[server]))
    # The gateway runs as its own role in production (`--only gateway`): its own start-up and
    # memory, which issue 7's targets are about.
    role = f"{servers[0]} --only gateway"
    processes[role] = measure_process({"TOKEND_SERVER__SERVER": servers[0]}, ["--only", "gateway"])
    print(process_line(role, processes[role]))
    extra = [row for name in names if name in IN_PROCESS for row in IN_PROCESS[name](args.smoke)]
    for line in in_process_lines(extra):
        print(line)
    if args.smoke:
        failed = [r for rs in report.values() for r in rs if r["errors"] or not r["rps"]]
        failed += [r for r in extra if r.get("duplicates")]
        if failed:
            raise SystemExit(f"bench smoke run had errors: {failed}")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.compare_servers:
        (RESULTS / "servers.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in report[servers[0]]:
        (RESULTS / f"{row['scenario']}.json").write_text(json.dumps(row, indent=2) + "\n")
    for row in extra:
        (RESULTS / f"{row['scenario']}.json").write_text(json.dumps(row, indent=2) + "\n")
    (RESULTS / "process.json").write_text(json.dumps(processes, indent=2) + "\n")
    if set(names) >= {*SCENARIOS, *IN_PROCESS} - {FLOOR.name}:
        update_readme(report, processes, extra)
    else:  # the README's table is one run of every scenario, never a patchwork
        print("README left as it is: run every scenario to update it")


def measure(
    server: str,
    scenarios: list[Scenario],
    duration_s: float,
    rounds: int,
    connections: int,
    with_peers: bool = True,
    warm_up: bool = True,
) -> tuple[dict[str, WrkResult], dict[str, float]]:
    """Median result per scenario (and per peer counterpart, run right after it: A B A B), and
    the server's start-up time and memory after the load."""
    with ExitStack() as stack:
        proc = stack.enter_context(serving(server))
        scenarios = prepared(scenarios, proc)
        plan: list[tuple[str, Scenario]] = []
        peer = None
        if with_peers and any(s.name in PEER_TARGETS for s in scenarios):
            peer = stack.enter_context(node_oidc_provider())
        for scenario in scenarios:
            if scenario.pace_of is not None:
                continue  # after the rounds: their rate may depend on them
            plan.append((proc.base_url, scenario))
            counterpart = as_peer(scenario, peer) if peer is not None else None
            if peer is not None and counterpart is not None:
                plan.append((peer.base_url, counterpart))
        for base_url, scenario in plan if warm_up else ():  # connections, caches, lazy imports
            run_wrk(base_url, scenario, duration_s=1, connections=connections)
        runs: dict[str, list[WrkResult]] = {s.name: [] for _, s in plan}
        for _ in range(rounds):
            for base_url, scenario in plan:
                result = run_wrk(base_url, scenario, duration_s=duration_s, connections=connections)
                runs[scenario.name].append(result)
        medians = {name: median(results) for name, results in runs.items()}
        for scenario in scenarios:
            if scenario.pace_of is not None:
                medians[scenario.name] = paced_run(
                    proc.base_url, scenario, medians, duration_s, rounds
                )
        stats = {
            "startup_ms": round(proc.startup_ms),
            "first_start_ms": round(proc.first_start_ms or 0),
            "rss_mb": rss_mb(proc.server.process.pid),
        }
    return medians, stats


#: A paced connection sends about every 10 ms: wrk's delay() counts whole milliseconds, so
#: the rate is set by the number of connections, and the delay is only trimmed.
PACE_INTERVAL_MS = 10


def paced_run(
    base_url: str,
    scenario: Scenario,
    medians: dict[str, WrkResult],
    duration_s: float,
    rounds: int,
) -> WrkResult:
    """Median of ``rounds`` runs of ``scenario`` at its fixed rate.

    wrk (Debian's, not wrk2) has no rate option, but a script's ``delay()`` holds each
    connection that many milliseconds before its next request. One calibration run measures
    the time a request takes at that load, and the delay is shortened by it, so that
    delay + response time is the interval each connection must keep.
    """
    assert scenario.pace_of is not None
    rate = scenario.rate_rps or (scenario.rate_of_max or 1.0) * medians[scenario.pace_of].rps
    connections = max(1, round(rate * PACE_INTERVAL_MS / 1000))
    interval_ms = connections * 1000 / rate
    trial = dataclasses.replace(scenario, delay_ms=round(interval_ms))
    calibration = run_wrk(base_url, trial, duration_s=2, connections=connections)
    cycle_ms = connections * 1000 / calibration.rps if calibration.rps else interval_ms
    busy_ms = max(0.0, cycle_ms - round(interval_ms))
    ready = dataclasses.replace(scenario, delay_ms=max(0, round(interval_ms - busy_ms)))
    results = [
        run_wrk(base_url, ready, duration_s=duration_s, connections=connections)
        for _ in range(rounds)
    ]
    return dataclasses.replace(median(results), target_rps=round(rate, 1))


@contextmanager
def serving(server: str) -> Iterator[Running]:
    """The production-like server the scenarios load, on ``server`` (uvicorn or granian)."""
    first: list[float] = []
    with production_server(
        overrides={"TOKEND_SERVER__SERVER": server}, first_start_ms=first
    ) as running:
        yield dataclasses.replace(running, first_start_ms=first[0])


def prepared(scenarios: list[Scenario], proc: Running) -> list[Scenario]:
    """Scenarios completed with what only the running server can give (client credentials)."""
    return oidc_prepare(scenarios, proc.base_url, proc.env)


def profile(server: str, scenario: Scenario, duration_s: float, connections: int) -> str:
    """Record a py-spy profile (speedscope JSON) of the server under ``scenario``'s load."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"{scenario.name}-{server}.speedscope.json"
    with serving(server) as proc:
        (scenario,) = prepared([scenario], proc)
        run_wrk(proc.base_url, scenario, duration_s=1, connections=connections)  # warm-up
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(proc.server.process.pid),
                "--duration",
                str(max(1, round(duration_s))),
                "--rate",
                "250",
                "--format",
                "speedscope",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
        )
        run_wrk(
            proc.base_url,
            scenario,
            duration_s=duration_s + 1,
            connections=scenario.connections or connections,
        )
        if spy.wait(timeout=duration_s + 60) != 0:
            raise SystemExit("py-spy failed (it needs ptrace: run as root or allow ptrace)")
    SUMMARIES.mkdir(parents=True, exist_ok=True)
    summary = SUMMARIES / f"{scenario.name}-{server}.txt"
    summary.write_text(summarize(json.loads(out.read_text(encoding="utf-8"))), encoding="utf-8")
    return (
        f"profile of {scenario.name} on {server}: {out} (open it at https://www.speedscope.app);"
        f" summary (committed, cited by the README): {summary}"
    )


def summarize(speedscope: dict[str, Any], top: int = 30) -> str:
    """Where the event loop's thread spends its samples: inclusive (a function and what it
    calls) and self (its own code), as shares of that thread's samples. Other threads (the
    SQLite and thread-pool workers) are listed by name only: py-spy samples them while they
    wait on their queues too, which would drown the loop's profile."""
    frames = speedscope["shared"]["frames"]
    labels = [f"{f['name']} ({_short(f.get('file', '?'))})" for f in frames]
    threads = speedscope["profiles"]
    loop = next((t for t in threads if "MainThread" in t["name"]), threads[0])
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack in loop["samples"]:
        for label in {labels[i] for i in stack}:  # recursion counts once
            inclusive[label] += 1
        if stack:
            own[labels[stack[-1]]] += 1
    total = len(loop["samples"]) or 1
    out = [f"{loop['name']}: {len(loop['samples'])} samples"]
    out.extend(f"other thread: {t['name']}" for t in threads if t is not loop)
    # Frames in every sample (the process's entry point down to the event loop) say nothing.
    inclusive = Counter({k: n for k, n in inclusive.items() if n < total})
    for title, counts in (("inclusive", inclusive), ("self", own)):
        out.append(f"\n{title}:")
        out.extend(f"{100 * n / total:6.1f}%  {label}" for label, n in counts.most_common(top))
    return "\n".join(out) + "\n"


def _short(path: str) -> str:
    """A frame's file from its package down (site-packages or src/ prefixes dropped)."""
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def process_line(server: str, stats: dict[str, float]) -> str:
    return (
        f"{server}: start-up {stats['startup_ms']:.0f} ms to first 200 (target < 1500; "
        f"{stats['first_start_ms']:.0f} ms for a deployment's first start, which generates its "
        f"keys), {stats['rss_mb']:.0f} MB resident after the load (target < 120)"
    )


def median(results: list[WrkResult]) -> WrkResult:
    by_rps = sorted(results, key=lambda r: r.rps)
    return by_rps[len(by_rps) // 2] if len(by_rps) % 2 else _mid(by_rps)


def _mid(results: list[WrkResult]) -> WrkResult:
    pair = results[len(results) // 2 - 1 : len(results) // 2 + 1]
    return WrkResult(
        rps=statistics.fmean(r.rps for r in pair),
        p50_ms=statistics.fmean(r.p50_ms for r in pair),
        p99_ms=statistics.fmean(r.p99_ms for r in pair),
        errors=sum(r.errors for r in pair),
        requests=sum(r.requests for r in pair),
    )


def rows(
    medians: dict[str, WrkResult],
    server: str,
    duration_s: float,
    rounds: int,
    connections: int,
    smoke: bool,
) -> list[dict[str, object]]:
    floor = medians[FLOOR.name].rps
    common = {
        "server": server,
        "git_sha": git_sha(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "connections": connections,
        "duration_s": duration_s,
        "rounds": rounds,
        "smoke": smoke,
    }
    return [
        {
            "scenario": name,
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(result).items()},
            "ratio_to_floor": round(result.rps / floor, 3) if floor else None,
            "target_ratio": SCENARIOS[name].target_ratio if name in SCENARIOS else None,
            **overhead(name, medians),
            **versus_peer(name, medians),
            **pacing(name),
            **common,
            "connections": (SCENARIOS[name].connections if name in SCENARIOS else None)
            or connections,
        }
        for name, result in medians.items()
    ]


def versus_peer(name: str, medians: dict[str, WrkResult]) -> dict[str, object]:
    """rps and p99 against the peer's counterpart measured in the same run."""
    target = PEER_TARGETS.get(name)
    peer = next((r for n, r in medians.items() if n.startswith(f"{name}@")), None)
    if target is None or peer is None or not peer.rps:
        return {}
    return {
        "peer_rps": round(peer.rps, 1),
        "ratio_to_peer": round(medians[name].rps / peer.rps, 3),
        "p99_ratio_to_peer": round(medians[name].p99_ms / peer.p99_ms, 3) if peer.p99_ms else None,
        "target_ratio_to_peer": target,
    }


def peer_lines(table: list[dict[str, object]]) -> list[str]:
    return [
        f"{row['scenario']}: {row['ratio_to_peer']}x node-oidc-provider's rps "
        f"(target ≥ {row['target_ratio_to_peer']}), p99 {row['p99_ratio_to_peer']}x its p99"
        for row in table
        if "ratio_to_peer" in row
    ]


def overhead(name: str, medians: dict[str, WrkResult]) -> dict[str, object]:
    """p50 above the baseline scenario's, for scenarios that name one."""
    scenario = SCENARIOS.get(name)
    if scenario is None or scenario.baseline is None or scenario.baseline not in medians:
        return {}
    extra = medians[name].p50_ms - medians[scenario.baseline].p50_ms
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


def pacing_lines(table: list[dict[str, object]]) -> list[str]:
    return [
        f"{row['scenario']}: p99 {row['p99_ms']} ms at {row['rps']:.0f} rps "
        f"({row['target_rps']} asked: {_rate_asked(row)}; target p99 < {row['target_p99_ms']} ms)"
        for row in table
        if "pace_of" in row
    ]


def _rate_asked(row: dict[str, object]) -> str:
    scenario = SCENARIOS[str(row["scenario"])]
    if scenario.rate_of_max is not None:
        return f"{scenario.rate_of_max} of {row['pace_of']}'s rps in this run"
    return "a fixed rate"


def overhead_lines(table: list[dict[str, object]]) -> list[str]:
    return [
        f"{row['scenario']}: p50 {row['overhead_p50_ms']} ms above {row['baseline']} "
        f"(target < {row['target_overhead_ms']} ms, 1 connection)"
        for row in table
        if "overhead_p50_ms" in row
    ]


def print_table(server: str, table: list[dict[str, object]]) -> None:
    print(f"\n{server}: {table[0]['cores']} cores, {table[0]['connections']} connections")
    width = max(28, *(len(str(row["scenario"])) + 2 for row in table))
    print(
        f"{'scenario':<{width}}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'x floor':>9}{'target':>8}"
    )
    for row in table:
        target = row["target_ratio"]
        print(
            f"{row['scenario']!s:<{width}}{row['rps']:>10.0f}{row['p50_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['errors']:>8}{row['ratio_to_floor']:>9.2f}"
            f"{'' if target is None else target:>8}"
        )
    for line in [*overhead_lines(table), *pacing_lines(table), *peer_lines(table)]:
        print(line)
    sys.stdout.flush()


def update_readme(
    report: dict[str, list[dict[str, object]]],
    processes: dict[str, dict[str, float]],
    extra: list[dict[str, object]],
) -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return
    first = next(iter(report.values()))[0]
    lines = [
        START,
        f"Measured {first['date']} on {first['cores']} cores (server and wrk share them), "
        f"{first['connections']} connections, median of {first['rounds']} alternating rounds "
        f"of {first['duration_s']} s, git {first['git_sha']}. "
        "Compare ratios, not absolute numbers.",
        "",
        "| server | scenario | rps | p50 ms | p99 ms | x floor | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for server, table in report.items():
        for row in table:
            target = row["target_ratio"]
            lines.append(
                f"| {server} | {row['scenario']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['ratio_to_floor']:.2f} | "
                f"{'—' if target is None else f'≥ {target}'} |"
            )
    lines.extend(
        f"\n{line}"
        for table in report.values()
        for line in [*overhead_lines(table), *pacing_lines(table), *peer_lines(table)]
    )
    lines.extend(f"\n{process_line(server, stats)}" for server, stats in processes.items())
    lines.extend(f"\n{line}" for line in in_process_lines(extra))
    lines.append(END)
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
