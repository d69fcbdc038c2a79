"""`make bench`: start production-like `tokend serve` processes, load them with wrk, report ratios.

A run measures, in this order: the HTTP scenarios (bench.scenarios) on an all-in-one server, a
gateway-only server and a raw ASGI app on the same HTTP server, with node-oidc-provider beside
them (bench.measure); start-up and memory of each role; the in-process scenarios
(bench.in_process); and how cost grows with data (bench.growth). A full run (every scenario)
appends one line per scenario to the results log (bench/results/runs.jsonl) and redraws the
README's performance section and the charts (bench/results/charts) from the last comparable
runs of that log. A run with any error (a socket error, a timeout, an answer ≥ 400, a failed
pre-flight, a wrong answer of an in-process scenario) exits non-zero saying which.

A smoke run (``--smoke``: tiny sizes, 1 s per scenario) does all of it, writing only under
var/bench-smoke/ (or ``--results-dir``), never a tracked file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from tests.e2e.server import REPO

from bench import charts, readme
from bench.growth import GROWTH, Options
from bench.growth import lines as growth_lines
from bench.in_process import IN_PROCESS
from bench.in_process import lines as in_process_lines
from bench.measure import measure
from bench.process import measure_process
from bench.profile import profile
from bench.report import errors_message, print_table, process_line, process_row, rows
from bench.run_log import LOG_NAME, Row, append, comparable, finish, key, read_runs, run_info
from bench.scenarios import FLOOR, GATEWAY_FLOOR, RAW_PING, SCENARIOS, Scenario
from bench.wrk import PreflightFailed, pin_cores, require_wrk
from tokend.server.settings import ServerSettings

RESULTS = REPO / "bench" / "results"
SMOKE_RESULTS = REPO / "var" / "bench-smoke"
README = REPO / "README.md"
ALL = [*SCENARIOS, *IN_PROCESS, *GROWTH]
#: Scenarios every run measures whatever ``--scenarios`` says: the references.
REFERENCES = (FLOOR.name, RAW_PING.name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 s per scenario")
    parser.add_argument("--scenarios", default=",".join(ALL))
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=ServerSettings().server)
    parser.add_argument("--compare-servers", action="store_true")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--no-peers", action="store_true", help="skip node-oidc-provider (no npm install)"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers and the peer on CPU 0, wrk on CPU 1: one core each, whatever threads a "
        "server starts (a run's settings say so; needs 2 CPUs)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        help="where results, the log and charts go (default: bench/results, or var/bench-smoke "
        "for a smoke run)",
    )
    parser.add_argument(
        "--render", action="store_true", help="redraw the README section and charts from the log"
    )
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="record a py-spy profile of the server under this scenario's load, nothing else",
    )
    args = parser.parse_args()
    out = args.results_dir or (SMOKE_RESULTS if args.smoke else RESULTS)
    if args.render:
        print(render(out, update_readme=not args.smoke and args.results_dir is None))
        return
    require_wrk()
    if args.profile:
        scenario = SCENARIOS.get(args.profile)
        if scenario is None or scenario.process == "raw":
            raise SystemExit(f"not a tokend scenario: {args.profile}")
        print(profile(args.server, scenario, args.duration, args.connections))
        return
    if args.pin:
        pin_cores()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    try:
        run(args, names, out)
    except PreflightFailed as exc:
        raise SystemExit(f"bench: a scenario failed before it was measured: {exc}") from None


def run(args: argparse.Namespace, names: Sequence[str], out: Path) -> None:
    smoke = bool(args.smoke)
    duration = 1.0 if smoke else float(args.duration)
    rounds = 1 if smoke else int(args.rounds)
    is_full = set(names) >= set(ALL)
    info = run_info(
        args.server,
        {
            "connections": args.connections,
            "duration_s": duration,
            "rounds": rounds,
            "smoke": smoke,
            "peers": not args.no_peers,
            "scenarios": sorted(names),
            # Only when set, so that the runs before the option stay comparable with unpinned ones.
            **({"pinned": "servers on CPU 0, wrk on CPU 1"} if args.pin else {}),
        },
    )
    servers = ["uvicorn", "granian"] if args.compare_servers else [args.server]
    report: dict[str, list[Row]] = {}
    others: list[Row] = []  # process, in-process and growth rows of the first server's run
    for server in servers:
        measured = measure(
            server,
            http_scenarios(names),
            duration,
            rounds,
            args.connections,
            with_peers=not args.no_peers,
            smoke=smoke,  # its numbers are not read: no warm-up, paced requests
        )
        report[server] = rows(measured.results, server, duration, rounds, args.connections, smoke)
        print_table(server, report[server])
        print(process_line(server, measured.process))
        if server == servers[0]:
            others.append(process_row(server, measured.process))
    # The gateway runs as its own role in production (`--only gateway`): its own start-up and
    # memory, which the process targets are about.
    role = f"{servers[0]} --only gateway"
    stats = measure_process({"TOKEND_SERVER__SERVER": servers[0]}, ["--only", "gateway"])
    print(process_line(role, stats))
    others.append(process_row(role, stats))
    extra = [row for name in names if name in IN_PROCESS for row in IN_PROCESS[name](smoke)]
    for line in in_process_lines(extra):
        print(line, flush=True)
    options = Options(smoke, servers[0], duration, rounds, args.connections)
    grown: list[Row] = []
    for name in (n for n in names if n in GROWTH):
        family = GROWTH[name](options)
        for line in growth_lines(family):
            print(line, flush=True)
        grown += family
    others += [*extra, *grown]
    logged = [*report[servers[0]], *others]
    failure = errors_message([*(row for table in report.values() for row in table), *others])
    save(out, report, logged, args.compare_servers)
    if smoke or is_full:
        written = append(out / LOG_NAME, finish(info), logged)
        print(f"results log: {written} lines appended to {out / LOG_NAME}")
        print(render(out, update_readme=not smoke and args.results_dir is None))
    else:  # the log and the README hold full runs only, never a patchwork
        print("not logged, README left as it is: run every scenario for that")
    if failure is not None:
        raise SystemExit(f"bench: {failure}")


def http_scenarios(names: Sequence[str]) -> list[Scenario]:
    """The wrk scenarios of ``names``, with the references and each process's floor."""
    chosen = [SCENARIOS[n] for n in dict.fromkeys([*REFERENCES, *names]) if n in SCENARIOS]
    if any(s.process == "gateway" for s in chosen) and GATEWAY_FLOOR not in chosen:
        chosen.append(GATEWAY_FLOOR)
    order = list(SCENARIOS)
    return sorted(chosen, key=lambda s: order.index(s.name))


def save(out: Path, report: dict[str, list[Row]], logged: list[Row], compare: bool) -> None:
    """The latest figures, one JSON file per row (``<scenario>[@<variant>].json``)."""
    out.mkdir(parents=True, exist_ok=True)
    if compare:
        (out / "servers.json").write_text(json.dumps(report, indent=2) + "\n")
    for row in logged:
        name = key(row).replace(" ", "_")
        (out / f"{name}.json").write_text(json.dumps(row, indent=2) + "\n")


def render(out: Path, *, update_readme: bool) -> str:
    """Draw the charts and the README section from the log in ``out``; where they went."""
    runs = comparable(read_runs(out / LOG_NAME))
    drawn = charts.draw(runs, out / "charts")
    if update_readme:
        text = readme.section(runs, drawn, "bench/results/charts")
        if readme.update(README, text):
            return (
                f"README performance section redrawn from {len(runs)} run(s); {len(drawn)} charts"
            )
        return "README has no bench markers: section not written"
    section = out / "README-section.md"
    section.write_text(readme.section(runs, drawn, "charts") + "\n", encoding="utf-8")
    return f"performance section from {len(runs)} run(s) in {section}; {len(drawn)} charts"


if __name__ == "__main__":
    main()
