"""`make bench`: start a production-like `tokend serve`, load it with wrk, report ratios.

Scenarios alternate within each round (floor, jwks, floor, jwks, ...) and each scenario's
result is the median of its rounds, so drift of a shared 2-core machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from tests.e2e.server import REPO, TOKEND, free_port, start, tokend_env

from bench.scenarios import FLOOR, SCENARIOS, Scenario, broker_setup
from bench.wrk import WrkResult, require_wrk, run_wrk

RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="1 s per scenario, nothing saved")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--compare-servers", action="store_true")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    require_wrk()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    scenarios = [SCENARIOS[n] for n in dict.fromkeys([FLOOR.name, *names])]
    duration = 1.0 if args.smoke else args.duration
    rounds = 1 if args.smoke else args.rounds
    servers = ["uvicorn", "granian"] if args.compare_servers else [args.server]
    report: dict[str, list[dict[str, object]]] = {}
    for server in servers:
        medians = measure(server, scenarios, duration, rounds, args.connections)
        report[server] = rows(medians, server, duration, rounds, args.connections, args.smoke)
        print_table(server, report[server])
    if args.smoke:
        failed = [r for rs in report.values() for r in rs if r["errors"] or not r["rps"]]
        if failed:
            raise SystemExit(f"bench smoke run had errors: {failed}")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.compare_servers:
        (RESULTS / "servers.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in report[servers[0]]:
        (RESULTS / f"{row['scenario']}.json").write_text(json.dumps(row, indent=2) + "\n")
    update_readme(report)


def measure(
    server: str, scenarios: list[Scenario], duration_s: float, rounds: int, connections: int
) -> dict[str, WrkResult]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = tokend_env(
            TOKEND_ENV="production",
            TOKEND_ISSUER="https://bench.tokend.test",
            TOKEND_SECRET_KEY=secrets.token_urlsafe(48),
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp}/bench.db",
            TOKEND_LOG__ACCESS_LOG="false",
            TOKEND_LOG__LEVEL="warning",
            TOKEND_SERVER__SERVER=server,
            **broker_setup(Path(tmp), port),
        )
        subprocess.run([*TOKEND, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
        proc = start([*TOKEND, "serve", "--port", str(port)], env, port, Path(tmp) / "serve.log")
        try:
            for scenario in scenarios:  # warm-up: connections, caches, JIT-free but lazy imports
                run_wrk(proc.base_url, scenario, duration_s=1, connections=connections)
            runs: dict[str, list[WrkResult]] = {s.name: [] for s in scenarios}
            for _ in range(rounds):
                for scenario in scenarios:
                    result = run_wrk(
                        proc.base_url, scenario, duration_s=duration_s, connections=connections
                    )
                    runs[scenario.name].append(result)
        finally:
            proc.stop()
    return {name: median(results) for name, results in runs.items()}


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
        "git_sha": _git_sha(),
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
            "target_ratio": SCENARIOS[name].target_ratio,
            **common,
        }
        for name, result in medians.items()
    ]


def print_table(server: str, table: list[dict[str, object]]) -> None:
    print(f"\n{server}: {table[0]['cores']} cores, {table[0]['connections']} connections")
    print(
        f"{'scenario':<28}{'rps':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'x floor':>9}{'target':>8}"
    )
    for row in table:
        target = row["target_ratio"]
        print(
            f"{row['scenario']!s:<28}{row['rps']:>10.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
            f"{row['errors']:>8}{row['ratio_to_floor']:>9.2f}{'' if target is None else target:>8}"
        )
    sys.stdout.flush()


def update_readme(report: dict[str, list[dict[str, object]]]) -> None:
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
    lines.append(END)
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
