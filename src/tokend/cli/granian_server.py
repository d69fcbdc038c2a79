"""``tokend serve`` on granian: its Rust HTTP/1.1 and HTTP/2 server in front of the ASGI app.

One worker (the default) runs embedded: granian serves the app object ``tokend serve`` already
built, on this process's own event loop (uvloop), so a server is one process that builds its app
once, as it is on uvicorn. Several workers are granian's worker processes, each rebuilding the
app from the settings handed off to it (``cli.handoff``).

The hardening ``cli.http_protocol`` adds to uvicorn is granian's own here: a head must arrive
within ``header_timeout_s`` (``header_read_timeout``: the connection is closed) and may not
outgrow ``max_header_bytes`` (hyper's ``max_buf_size``: a 431). ``tests/security/test_bodies.py``
sends the same slow and oversized heads and bodies to both servers. granian applies no
forwarding headers itself: the app does (``tokend.server.peer``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import structlog

from tokend.server.settings import ServerSettings

if TYPE_CHECKING:
    from granian.http import HTTP1Settings
    from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger("tokend.server")

#: After the shutdown timeout has cut the requests still running, how long granian waits for its
#: worker (the lifespan shutdown: closing pools and connections) before cancelling it.
_KILL_GRACE_S = 10

#: hyper refuses a ``max_buf_size`` below 8 KiB.
_HYPER_MIN_BUFFER = 8192


def http1_settings(server: ServerSettings) -> HTTP1Settings:
    from granian.http import HTTP1Settings

    return HTTP1Settings(
        header_read_timeout=int(server.header_timeout_s * 1000),
        max_buffer_size=max(server.max_header_bytes, _HYPER_MIN_BUFFER),
    )


def server_options(server: ServerSettings) -> dict[str, Any]:
    """What both granian modes are given (but the app and the worker count)."""
    from granian.constants import Interfaces

    return {
        "address": server.host,
        "port": server.port,
        "interface": Interfaces.ASGI,
        "log_access": False,  # ours is the access log (obs.logging)
        "http1_settings": http1_settings(server),
        # Requests in flight per worker; more wait for a slot (granian has no 503 for this).
        "backpressure": server.max_connections,
    }


def serve_embedded(app: ASGIApp, server: ServerSettings) -> None:
    """Serve ``app`` in this process until SIGINT/SIGTERM.

    A stop lets requests in flight finish for ``shutdown_timeout_s``, then cancels those still
    running (as uvicorn does past its graceful timeout), so the connections close, granian's
    worker ends and the app's lifespan shutdown runs; a worker that still has not ended
    ``_KILL_GRACE_S`` later is cancelled by granian itself."""
    import uvloop
    from granian.server.embed import Server

    running: set[asyncio.Task[Any]] = set()

    async def serve() -> None:
        loop = asyncio.get_running_loop()

        async def tracked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "lifespan":
                await app(scope, receive, send)
                return
            # The loop named: without it Python 3.11 looks the running one up, a getpid system
            # call per request.
            task = asyncio.current_task(loop)
            if task is not None:
                running.add(task)
            try:
                await app(scope, receive, send)
            finally:
                running.discard(task)

        embedded = Server(tracked, **server_options(server))
        _quiet_experimental_notice()
        embedded.workers_kill_timeout = server.shutdown_timeout_s + _KILL_GRACE_S

        def stop() -> None:
            embedded.stop()  # type: ignore[no-untyped-call]  # granian is untyped
            loop.call_later(server.shutdown_timeout_s, cut_what_still_runs)

        def cut_what_still_runs() -> None:
            if running:
                log.warning(
                    "server.stop_timed_out", after_s=server.shutdown_timeout_s, cut=len(running)
                )
            for task in list(running):
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        try:
            await embedded.serve()
        except TimeoutError:
            # granian's own last resort (a lifespan shutdown that hangs): the process ends;
            # its supervisor asked it to stop.
            log.error("server.worker_killed", after_s=embedded.workers_kill_timeout)

    uvloop.run(serve())


def serve_workers(server: ServerSettings, factory: str) -> None:
    """``server.workers`` granian worker processes, each building its app with ``factory``."""
    from granian.server import Server

    Server(
        factory,
        workers=server.workers,
        factory=True,
        # A worker that does not stop (granian waits for it forever by default, seen when a
        # worker was stopped right after it started) is killed after this long.
        workers_kill_timeout=server.shutdown_timeout_s,
        **server_options(server),
    ).serve()


class _DropExperimentalNotice(logging.Filter):
    """granian warns on every embedded start that embedding is experimental: a line an operator
    can do nothing about. tokend pins the granian release it is tested with (pyproject.toml)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


def _quiet_experimental_notice() -> None:
    granian_log = logging.getLogger("_granian")
    # granian's Server() configured its own stdout handler; ours (obs.logging) formats instead.
    granian_log.handlers.clear()
    granian_log.propagate = True
    granian_log.addFilter(_DropExperimentalNotice())
