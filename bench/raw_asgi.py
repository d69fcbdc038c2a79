"""`python -m bench.raw_asgi --port N`: a bare ASGI app on the HTTP server tokend runs on.

The reference of the floor: the issue's target is a floor (``GET /health`` through the whole
tokend stack: middleware, router, metrics, access log) of at least half the rate of this app,
served by the same server (uvicorn with uvloop and httptools, or granian) with the same options
``tokend serve`` gives it, measured in the same run. It answers ``/health`` with the bytes
tokend's ``/health`` answers and 404 elsewhere, and does nothing else.

The server options are copied from ``tokend.cli.main.run_server`` (they are built inside that
function, not exposed): a change there should be made here too.
"""

from __future__ import annotations

import argparse
import functools
from typing import Any

from starlette.types import Receive, Scope, Send

from tokend.server.settings import ServerSettings

_HEALTH = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]
_NOT_FOUND = [(b"content-type", b"text/plain"), (b"content-length", b"9")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /health`` → 200 ``{"status":"ok"}``; anything else 404; lifespan accepted."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _HEALTH})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": _NOT_FOUND})
        await send({"type": "http.response.body", "body": b"not found"})


def serve_uvicorn(server: ServerSettings) -> None:
    """``app`` on uvicorn with ``tokend serve``'s options (tokend.cli.main.run_server)."""
    import uvicorn

    from tokend.cli.http_protocol import BoundedHttpToolsProtocol

    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
        "lifespan": "on",
        "http": functools.partial(
            BoundedHttpToolsProtocol,
            header_timeout_s=server.header_timeout_s,
            max_header_bytes=server.max_header_bytes,
        ),
        "timeout_keep_alive": server.keep_alive_timeout_s,
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_bytes,
    }
    uvicorn.run(app, **options)


def serve_granian(server: ServerSettings) -> None:
    """``app`` on granian as ``tokend serve`` runs it (tokend.cli.granian_server)."""
    from tokend.cli.granian_server import serve_embedded

    serve_embedded(app, server)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raw_asgi")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=ServerSettings().server)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The shipping defaults of the server block, as `tokend serve` would run with them.
    server = ServerSettings(port=args.port)
    if args.server == "granian":
        serve_granian(server)
    else:
        serve_uvicorn(server)


if __name__ == "__main__":
    main()
