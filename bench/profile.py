"""`make profile SCENARIO=jwks`: a py-spy profile of the server under one scenario's load."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.server import REPO

from bench.measure import serving
from bench.oidc_setup import oidc_prepare
from bench.process import postgres_server
from bench.scenarios import Scenario
from bench.wrk import run_wrk

RESULTS = REPO / "bench" / "results"
#: Where --profile writes: bench/results, unless the profile test names a folder of its own.
PROFILE_RESULTS = Path(os.environ.get("TOKEND_BENCH_PROFILE_DIR", str(RESULTS)))
PROFILES = PROFILE_RESULTS / "profiles"
#: Text summaries of profiles, small enough to commit (the speedscope files are not).
SUMMARIES = PROFILE_RESULTS / "profile-summaries"


def profile(server: str, scenario: Scenario, duration_s: float, connections: int) -> str:
    """Record a py-spy profile (speedscope JSON) of the server under ``scenario``'s load."""
    PROFILES.mkdir(parents=True, exist_ok=True)
    out = PROFILES / f"{scenario.name}-{server}.speedscope.json"
    if scenario.process == "postgres":
        running = postgres_server(server)
    else:
        running = serving(server, ["--only", "gateway"] if scenario.process == "gateway" else [])
    with running as proc:
        (scenario,) = oidc_prepare([scenario], proc.base_url, proc.env)
        run_wrk(proc.base_url, scenario, duration_s=1, connections=connections)  # warm-up
        # Single-use requests are made before py-spy starts: signing a pool of them takes
        # seconds, which would be sampled as the server idling.
        loaded = scenario.renew(duration_s + 1) if scenario.renew is not None else scenario
        loaded = dataclasses.replace(loaded, renew=None)
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
            loaded,
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
