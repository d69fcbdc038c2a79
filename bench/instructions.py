"""`python -m bench.instructions SCENARIO [--requests N] [--callgrind]`: one hot request's cost in
process, as CPU time or as instructions.

On a shared virtual machine the rate of the same code moves ±15% between runs, so a change of a
few percent cannot be read from wrk. This drives ``SCENARIO``'s request through the production
app itself (``tokend.app.create_app`` with the bench server's settings: production, SQLite, the
memory cache, JSON access log; no HTTP server, no network) ``N`` times after a warm-up and prints
the CPU time per request; with ``--callgrind`` it runs itself under ``valgrind
--tool=callgrind`` with instrumentation switched on only around the measured requests
(``callgrind_control``) and prints instructions per request, which repeat within about 0.1%
whatever else the machine does. The README's "Counted in instructions" figures were made so.

Scenarios: ``client_credentials`` (HTTP Basic, ES256 JWT), ``introspection`` (of an opaque
token) and ``health``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from starlette.types import Message, Scope

from bench.oidc_setup import bench_client
from bench.process import production_env
from bench.vault_seed import database_of
from tokend.store import migrate

SCENARIOS: Final = ("client_credentials", "introspection", "health")
_WARM_UP: Final = 300
_FORM: Final = [
    (b"host", b"bench.tokend.test"),
    (b"content-type", b"application/x-www-form-urlencoded"),
]
_CC_BODY: Final = b"grant_type=client_credentials&scope=api%3Aread"
_TOTALS: Final = re.compile(r"^totals: (\d+)", re.MULTILINE)

Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True)
class Prepared:
    #: The bench server's environment (``bench.process``), migrated.
    env: Mapping[str, str]
    #: The Authorization headers of a client with JWT access tokens and one with opaque ones.
    jwt_client: bytes
    opaque_client: bytes


def prepare(folder: Path) -> Prepared:
    env = production_env(folder, 9)  # no server: the port only names the broker's operator
    migrate.upgrade(database_of(env))
    jwt_client = bench_client(env, "jwt")["Authorization"]
    opaque_client = bench_client(env, "opaque", "--opaque")["Authorization"]
    return Prepared(env, jwt_client.encode(), opaque_client.encode())


async def _call(app: object, request: Request) -> list[Message]:
    method, path, headers, body = request
    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect while answering
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[operator]  # an ASGI app
    return sent


async def _request(app: object, scenario: str, prepared: Prepared) -> Request:
    if scenario == "health":
        return ("GET", "/health", [(b"host", b"bench.tokend.test")], b"")
    if scenario == "client_credentials":
        auth = prepared.jwt_client
        return ("POST", "/token", [*_FORM, (b"authorization", auth)], _CC_BODY)
    auth = prepared.opaque_client
    issued = await _call(app, ("POST", "/token", [*_FORM, (b"authorization", auth)], _CC_BODY))
    token = json.loads(issued[-1]["body"])["access_token"]
    return ("POST", "/introspect", [*_FORM, (b"authorization", auth)], f"token={token}".encode())


def _instrumentation(on: bool) -> None:
    """Switch callgrind's instrumentation of this process (run under it) on or off."""
    command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
    subprocess.run(command, capture_output=True, check=False)


async def measure(scenario: str, requests: int, prepared: Prepared, instrument: bool) -> float:
    """CPU µs per request of ``scenario``, over ``requests`` after the warm-up; each answer must
    be a 200."""
    from asgi_lifespan import LifespanManager

    from tokend.app import create_app
    from tokend.config import Settings

    saved = dict(os.environ)
    os.environ.update(prepared.env)
    try:
        app = create_app(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    async with LifespanManager(app) as manager:
        request = await _request(manager.app, scenario, prepared)
        for _ in range(_WARM_UP):
            answer = await _call(manager.app, request)
            if answer[0]["status"] != 200:
                raise SystemExit(f"{scenario}: answered {answer[0]['status']}")
        gc.collect()
        gc.freeze()
        if instrument:
            _instrumentation(True)
        started = time.process_time()
        for index in range(requests):
            await _call(manager.app, request)
            if index % 16 == 0:
                await asyncio.sleep(0)  # let the loop run its callbacks (log writes)
        spent = time.process_time() - started
        if instrument:
            _instrumentation(False)
    return spent / requests * 1e6


def instructions(scenario: str, requests: int) -> int:
    """Instructions per request of ``scenario``: this module run under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            sys.executable, "-m", "bench.instructions", scenario, "--requests", str(requests),
            "--instrumented",
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
        found = _TOTALS.search(out.read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit("callgrind wrote no totals")
    return int(found.group(1)) // requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument("--instrumented", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.callgrind:
        print(
            f"{args.scenario}: {instructions(args.scenario, args.requests)} instructions a request"
        )
        return
    with tempfile.TemporaryDirectory() as folder:
        prepared = prepare(Path(folder))
        micros = asyncio.run(measure(args.scenario, args.requests, prepared, args.instrumented))
    if not args.instrumented:
        print(f"{args.scenario}: {micros:.1f} µs of CPU a request")


if __name__ == "__main__":
    main()
