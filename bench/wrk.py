"""Run wrk against one URL and read its numbers from a JSON line our Lua script prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '\\nBENCH_JSON {{"requests":%d,"duration_us":%d,"errors":%d,'
    .. '"p50_us":%d,"p99_us":%d,"max_us":%d}}\\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    #: Paced runs: the rate asked for (``rps`` is the rate reached).
    target_rps: float | None = None


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
        scenario = scenario.renew()
    connections = scenario.connections or connections
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(scenario))
    try:
        out = subprocess.run(
            [
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
    return WrkResult(
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=int(data["errors"]),
        requests=int(data["requests"]),
    )
