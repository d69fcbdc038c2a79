"""`python -m bench.servers`: uvicorn against granian, both serving at once, requests alternated.

``python -m bench --compare-servers`` measures one server's whole run, then the other's: minutes
apart, on a machine whose speed drifts by 15% in that time. Here both production-like servers
(``bench.measure.serving``) run side by side, idle but for the one under load, and every round
sends each scenario to one server, then to the other, so both see the same machine. Per run it
also reads the server process's CPU time (every thread: granian's Rust I/O thread included),
because a rate on a shared 2-core box is not what a CPU-limited replica gets: CPU per request
is; ``--pin`` puts both servers on one core and wrk on the other, as a CPU limit would. Each
figure is the median over the rounds; a run with any error fails the whole command.
The table is printed and written to ``bench/results/servers_alternated[_pinned].json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from tests.e2e.server import REPO

from bench import git_sha
from bench.measure import serving
from bench.oidc_setup import oidc_prepare
from bench.process import cpu_ms, raw_server
from bench.scenarios import SCENARIOS, Scenario
from bench.wrk import pin_cores, preflight, run_wrk

SERVERS: Final = ("uvicorn", "granian")
#: What the comparison runs unless told: the floors and the hot scenarios a default production
#: process serves (the gateway's rows need a gateway-only process of their own).
DEFAULT_SCENARIOS: Final = (
    "raw_asgi_ping", "floor", "jwks", "oidc_client_credentials", "oidc_introspect",
    "broker_token_cached", "vault_validate_cached",
)  # fmt: skip
OUT: Final = REPO / "bench" / "results" / "servers_alternated.json"
PINNED_OUT: Final = REPO / "bench" / "results" / "servers_alternated_pinned.json"


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    rps: float
    p99_ms: float
    #: The server process's CPU time (user + system, all threads) per request, in µs; None for
    #: bench.raw_asgi's app, whose process is not the one measured elsewhere.
    cpu_us: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Figure:
    scenario: str
    server: str
    rps: float
    p99_ms: float
    cpu_us: float | None
    runs: int


def figure(scenario: str, server: str, runs: Sequence[Run]) -> Figure:
    """The medians of ``runs`` (each figure on its own)."""
    cpu = [r.cpu_us for r in runs if r.cpu_us is not None]
    return Figure(
        scenario,
        server,
        round(statistics.median(r.rps for r in runs), 1),
        round(statistics.median(r.p99_ms for r in runs), 2),
        round(statistics.median(cpu), 1) if cpu else None,
        len(runs),
    )


def table(figures: Sequence[Figure]) -> str:
    """One line per scenario: each server's rate, p99 and CPU per request, and the ratio."""
    by = {(f.scenario, f.server): f for f in figures}
    lines = [
        f"{'scenario':30s} {'uvicorn rps':>12s} {'granian rps':>12s} {'g/u':>5s}"
        f" {'p99 ms u/g':>12s} {'CPU µs/req u/g':>16s}"
    ]
    for scenario in dict.fromkeys(f.scenario for f in figures):
        u, g = by[(scenario, "uvicorn")], by[(scenario, "granian")]
        cpu = f"{u.cpu_us:.0f}/{g.cpu_us:.0f}" if u.cpu_us and g.cpu_us else "-"
        lines.append(
            f"{scenario:30s} {u.rps:12.0f} {g.rps:12.0f} {g.rps / u.rps:5.2f}"
            f" {f'{u.p99_ms:.1f}/{g.p99_ms:.1f}':>12s} {cpu:>16s}"
        )
    return "\n".join(lines)


def compare(names: Sequence[str], duration_s: float, rounds: int, connections: int) -> list[Figure]:
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(unknown)}")
    plan: list[tuple[str, str, Scenario, int | None]] = []  # server, url, scenario, pid
    with ExitStack() as stack:
        for server in SERVERS:
            running = stack.enter_context(serving(server))
            served = [SCENARIOS[n] for n in names if not n.startswith("raw_asgi")]
            for scenario in oidc_prepare(served, running.base_url, running.env):
                plan.append((server, running.base_url, scenario, running.server.process.pid))
            raw = [SCENARIOS[n] for n in names if n.startswith("raw_asgi")]
            if raw:
                bare = stack.enter_context(raw_server(server))
                plan += [(server, bare.base_url, scenario, None) for scenario in raw]
        order = list(names)
        plan.sort(key=lambda step: (order.index(step[2].name), SERVERS.index(step[0])))
        for _, url, scenario, _ in plan:
            preflight(url, scenario)
            run_wrk(url, scenario, duration_s=1, connections=connections)  # warm-up
        runs: dict[tuple[str, str], list[Run]] = {(s.name, server): [] for server, _, s, _ in plan}
        for _ in range(rounds):
            for server, url, scenario, pid in plan:
                before = cpu_ms(pid) if pid is not None else 0.0
                result = run_wrk(url, scenario, duration_s=duration_s, connections=connections)
                spent = cpu_ms(pid) - before if pid is not None else None
                if result.errors:
                    raise SystemExit(f"{scenario.name} on {server}: {result.errors} errors")
                cpu_us = 1000 * spent / result.requests if spent is not None else None
                runs[(scenario.name, server)].append(Run(result.rps, result.p99_ms, cpu_us))
    return [figure(name, server, measured) for (name, server), measured in runs.items()]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__)
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS))
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, help=f"default: {OUT.name}, or {PINNED_OUT.name}")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, wrk on CPU 1")
    args = parser.parse_args(argv)
    if args.pin:
        pin_cores()
    names = [n for n in args.scenarios.split(",") if n]
    figures = compare(names, args.duration, args.rounds, args.connections)
    print(table(figures))
    out: Path = args.out or (PINNED_OUT if args.pin else OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "duration_s": args.duration, "rounds": args.rounds, "connections": args.connections,
        **({"pinned": "servers on CPU 0, wrk on CPU 1"} if args.pin else {}),
    }  # fmt: skip
    document = {
        "run": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": git_sha(),
        "settings": settings,
        "figures": [dataclasses.asdict(f) for f in figures],
    }
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
