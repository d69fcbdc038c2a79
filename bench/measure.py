"""Load the run's servers with wrk: alternating rounds, a median per scenario, every error kept.

Scenarios alternate within each round (floor, jwks, floor, jwks, ...) and each scenario's
result is the median of its rounds, so drift of a shared 2-core machine hits all of them alike.
A scenario's errors are those of every run it made (pre-flight, warm-up, calibration, rounds),
not only the median run's.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bench.oidc_setup import oidc_prepare
from bench.peers import PEER_TARGETS, as_peer, node_oidc_provider
from bench.process import (
    Running,
    demo_server,
    postgres_server,
    production_server,
    raw_server,
    rss_mb,
)
from bench.scenarios import WORKERS, Process, Scenario
from bench.wrk import WrkResult, add_errors, preflight, run_wrk

#: A load step: the base URL and the scenario sent to it.
Step = tuple[str, Scenario]

#: In a smoke run each connection waits this long before each request: every scenario and its
#: checks run as in a real run, at a few hundred requests per second instead of all the CPU
#: the machine has (a smoke run's figures are never read; the test suite runs one).
SMOKE_PACE_MS = 40


@dataclass(frozen=True, slots=True)
class Measured:
    #: Median result per scenario name (peers' counterparts as ``<name>@<peer>``).
    results: dict[str, WrkResult]
    #: The all-in-one server's start-up and memory after the load.
    process: dict[str, float]


def measure(
    server: str,
    scenarios: Sequence[Scenario],
    duration_s: float,
    rounds: int,
    connections: int,
    with_peers: bool = True,
    smoke: bool = False,
) -> Measured:
    """Every scenario on the process it names (all-in-one, gateway-only, raw ASGI app, several
    workers, PostgreSQL, demo), with the peer's counterpart run right after it (A B A B)."""
    with ExitStack() as stack:
        main = stack.enter_context(serving(server))
        urls: dict[Process, str] = {"all-in-one": main.base_url}
        if any(s.process == "gateway" for s in scenarios):
            gateway = stack.enter_context(serving(server, ["--only", "gateway"]))
            urls["gateway"] = gateway.base_url
        if any(s.process == "raw" for s in scenarios):
            urls["raw"] = stack.enter_context(raw_server(server)).base_url
        ready = oidc_prepare(
            [s for s in scenarios if s.process not in ("workers", "postgres", "demo")],
            main.base_url,
            main.env,
        )
        on_workers = [s for s in scenarios if s.process == "workers"]
        if on_workers:
            # Its own database and clients, made as the all-in-one process's are; started once
            # (its start-up is not what it is measured for).
            workers = stack.enter_context(
                production_server(
                    ["--workers", str(WORKERS)], overrides={"TOKEND_SERVER__SERVER": server}
                )
            )
            urls["workers"] = workers.base_url
            ready += oidc_prepare(on_workers, workers.base_url, workers.env)
        on_postgres = [s for s in scenarios if s.process == "postgres"]
        if on_postgres:
            provider = stack.enter_context(postgres_server(server))
            urls["postgres"] = provider.base_url
            ready += oidc_prepare(on_postgres, provider.base_url, provider.env)
        on_demo = [s for s in scenarios if s.process == "demo"]
        if on_demo:
            demo = stack.enter_context(demo_server(server))
            urls["demo"] = demo.base_url
            ready += oidc_prepare(on_demo, demo.base_url, demo.env)
        peer = None
        if with_peers and any(s.name in PEER_TARGETS for s in ready):
            peer = stack.enter_context(node_oidc_provider())
        plan: list[Step] = []
        for scenario in ready:
            if scenario.pace_of is not None:
                continue  # after the rounds: their rate may depend on them
            plan.append((urls[scenario.process], scenario))
            counterpart = as_peer(scenario, peer) if peer is not None else None
            if peer is not None and counterpart is not None:
                plan.append((peer.base_url, counterpart))
        results = alternate(plan, duration_s, rounds, connections, smoke=smoke)
        for scenario in ready:
            if scenario.pace_of is not None:
                results[scenario.name] = paced_run(
                    urls[scenario.process], scenario, results, duration_s, rounds
                )
        stats = {
            "startup_ms": round(main.startup_ms),
            "first_start_ms": round(main.first_start_ms or 0),
            "rss_mb": rss_mb(main.server.process.pid),
        }
    return Measured(results, stats)


def alternate(
    plan: Sequence[Step],
    duration_s: float,
    rounds: int,
    connections: int,
    *,
    smoke: bool = False,
) -> dict[str, WrkResult]:
    """Each step's median over ``rounds`` alternating rounds, with every run's errors.

    Every static request is sent once first and must answer 2xx (bench.wrk.preflight): a
    misconfigured scenario stops the run before anything is measured. A smoke run does not warm
    up and paces its requests (``SMOKE_PACE_MS``).
    """
    warm_up = not smoke
    if smoke:
        plan = [
            (
                base_url,
                s if s.delay_ms is not None else dataclasses.replace(s, delay_ms=SMOKE_PACE_MS),
            )
            for base_url, s in plan
        ]
    for base_url, scenario in plan:
        preflight(base_url, scenario)
    runs: dict[str, list[WrkResult]] = {s.name: [] for _, s in plan}
    extra: dict[str, list[WrkResult]] = {s.name: [] for _, s in plan}
    for base_url, scenario in plan if warm_up else ():  # connections, caches, lazy imports
        warm = run_wrk(base_url, scenario, duration_s=1, connections=connections)
        extra[scenario.name].append(warm)
    for _ in range(max(1, rounds)):
        for base_url, scenario in plan:
            result = run_wrk(base_url, scenario, duration_s=duration_s, connections=connections)
            runs[scenario.name].append(result)
    return {
        name: add_errors(median(results), [*results, *extra[name]])
        for name, results in runs.items()
    }


#: A paced connection sends about every 10 ms: wrk's delay() counts whole milliseconds, so
#: the rate is set by the number of connections, and the delay is only trimmed.
PACE_INTERVAL_MS = 10


def paced_run(
    base_url: str,
    scenario: Scenario,
    medians: Mapping[str, WrkResult],
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
    paced = add_errors(median(results), [*results, calibration])
    return dataclasses.replace(paced, target_rps=round(rate, 1))


@contextmanager
def serving(server: str, args: Sequence[str] = ()) -> Iterator[Running]:
    """The production-like ``tokend serve <args>`` the scenarios load, on ``server``."""
    first: list[float] = []
    with production_server(
        args, overrides={"TOKEND_SERVER__SERVER": server}, first_start_ms=first
    ) as running:
        yield dataclasses.replace(running, first_start_ms=first[0])


def median(results: Sequence[WrkResult]) -> WrkResult:
    """The median run by rps (the mean of the middle two for an even count); no errors added."""
    by_rps = sorted(results, key=lambda r: r.rps)
    if len(by_rps) % 2:
        return dataclasses.replace(by_rps[len(by_rps) // 2], errors=0, error_kinds={})
    pair = by_rps[len(by_rps) // 2 - 1 : len(by_rps) // 2 + 1]
    return WrkResult(
        rps=statistics.fmean(r.rps for r in pair),
        p50_ms=statistics.fmean(r.p50_ms for r in pair),
        p99_ms=statistics.fmean(r.p99_ms for r in pair),
        errors=0,
        requests=sum(r.requests for r in pair),
    )
