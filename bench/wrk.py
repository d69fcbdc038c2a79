"""Run wrk against one URL and read its numbers from a JSON line our Lua script prints.

Errors are wrk's own counts, by kind: ``connect``, ``read`` and ``write`` (socket errors),
``timeout`` (no answer within wrk's 2 s) and ``status`` (an answer of 400 or above: wrk counts
those, not 3xx). So that a scenario answering 3xx or an unexpected 2xx-less body cannot pass
unseen, :func:`preflight` sends a scenario's request once before it is measured and requires a
2xx. Counting every status in a Lua ``response()`` would be exact, but it makes wrk hand each
body to Lua, which costs the shared cores during the measurement itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from bench.scenarios import Scenario

# wrk's done() hook prints one JSON line; latencies are in microseconds.
_LUA_TEMPLATE = """
wrk.method = {method}
wrk.body = {body}
{headers}
{request}
{response}
{delay}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_JSON {{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


#: The CPUs wrk runs on (``taskset -c``), when ``python -m bench --pin`` set them; else wherever
#: the scheduler puts it.
LOAD_CPUS: str | None = None

#: wrk's error counters, in the order they are reported.
ERROR_KINDS = ("connect", "read", "write", "timeout", "status")


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    #: Paced runs: the rate asked for (``rps`` is the rate reached).
    target_rps: float | None = None
    #: ``errors`` by kind (ERROR_KINDS), only the kinds that occurred.
    error_kinds: Mapping[str, int] = field(default_factory=dict)


def add_errors(result: WrkResult, others: Iterable[WrkResult]) -> WrkResult:
    """``result`` with the errors of ``others`` added: a scenario's row counts the errors of
    every run it made (warm-up, calibration and every round), not only the median's."""
    kinds = Counter(result.error_kinds)
    for other in others:
        kinds.update(other.error_kinds)
    return replace(result, errors=sum(kinds.values()), error_kinds=dict(sorted(kinds.items())))


def _lua_string(value: str | None) -> str:
    return "nil" if value is None else json.dumps(value)


def lua_script(scenario: Scenario) -> str:
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in scenario.headers.items()
    )
    request = ""
    if scenario.lua_request is not None:
        # A random base per run keeps runs (warm-up, rounds) from repeating each other's requests.
        request = (
            "math.randomseed(os.time())\nbase = math.random(0, 9999)\ncounter = 0\n"
            f"{scenario.lua_setup or ''}\n"
            f"request = function()\n{scenario.lua_request}\nend"
        )
    response = ""
    if scenario.lua_response is not None:
        response = f"response = function(status, headers, body)\n{scenario.lua_response}\nend"
    # wrk waits delay() milliseconds (an integer) before each request on a connection: pacing.
    delay = ""
    if scenario.delay_ms is not None:
        delay = f"delay = function() return {scenario.delay_ms} end"
    return _LUA_TEMPLATE.format(
        method=json.dumps(scenario.method),
        body=_lua_string(scenario.body),
        headers=headers,
        request=request,
        response=response,
        delay=delay,
    )


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return path


def run_wrk(base_url: str, scenario: Scenario, *, duration_s: float, connections: int) -> WrkResult:
    """One wrk run; ``connections`` unless the scenario sets its own; a scenario that renews
    itself (single-use tokens) is renewed first."""
    if scenario.renew is not None:
        scenario = scenario.renew(duration_s)
    connections = scenario.connections or connections
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(scenario))
    try:
        pinned = [] if LOAD_CPUS is None else ["taskset", "-c", LOAD_CPUS]
        out = subprocess.run(
            [
                *pinned,
                require_wrk(),
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration_s))}s",
                "--latency",
                "-s",
                script.name,
                base_url + scenario.path,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration_s + 60,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = data["duration_us"] / 1e6
    kinds = {kind: int(data[kind]) for kind in ERROR_KINDS if data[kind]}
    return WrkResult(
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=sum(kinds.values()),
        requests=int(data["requests"]),
        error_kinds=kinds,
    )


class PreflightFailed(Exception):
    """A scenario's request did not answer 2xx before it was measured."""


def preflight(base_url: str, scenario: Scenario) -> None:
    """Send ``scenario``'s request once and require a 2xx, or raise PreflightFailed naming the
    status. Scenarios whose requests Lua builds (each one different, or single-use tokens) are
    left to wrk's own count: sending one here would use up what the run needs."""
    if scenario.lua_request is not None or scenario.renew is not None:
        return
    try:
        response = httpx.request(
            scenario.method,
            base_url + scenario.path,
            headers=dict(scenario.headers),
            content=scenario.body,
            timeout=10,
        )
    except httpx.TransportError as exc:
        raise PreflightFailed(f"{scenario.name}: {type(exc).__name__} at {base_url}") from None
    if not response.is_success:
        # Only the status and the error code: an answer may hold a token or a secret.
        raise PreflightFailed(
            f"{scenario.name}: {scenario.method} {scenario.path} answered "
            f"{response.status_code}, not 2xx ({_error_code(response)})"
        )


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no JSON body"
    if isinstance(body, dict):
        for key in ("error", "code", "title"):
            if isinstance(body.get(key), str):
                return f"{key} {body[key]!r}"
    return "no error code"


def pin_cores() -> None:
    """This process, and so every server and peer it starts (a child inherits its parent's CPU
    affinity, and a thread its creator's), on CPU 0; wrk on CPU 1 (``bench.wrk.LOAD_CPUS``).

    Unpinned, each server shares both cores with wrk and with the others' helper threads, and a
    process with more busy threads takes more of the second core: node-oidc-provider's libuv
    and V8 worker threads ran about 0.4 of a core beside its event loop under
    client_credentials (its threads' CPU time in /proc, 2026-12-07), tokend's one event loop
    none. Pinned, every process gets one core: the comparison per core. PostgreSQL and Redis
    are not the bench's children and stay unpinned."""
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("--pin needs 2 CPUs: one for the servers, one for wrk")
    os.sched_setaffinity(0, {0})
    global LOAD_CPUS
    LOAD_CPUS = "1"
