"""The address a request came from, kept before any header can say otherwise.

``X-Forwarded-For`` / ``X-Forwarded-Proto`` from the peers in ``server.forwarded_allow_ips`` are
applied here, by uvicorn's own ProxyHeadersMiddleware, instead of by the ASGI server: the server
would replace the ASGI client before the app runs, and the TCP peer would be lost. It is stored
in the scope first. Logs, rate limits and the like read the ASGI client as forwarded; a decision
a header must not be able to talk into (the gateway's trust in Kong) reads :func:`tcp_peer`.

``tokend serve`` runs uvicorn with its own proxy-header handling off, and granian has none; an
app served some other way must be served the same way (uvicorn ``--no-proxy-headers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

#: Where the TCP peer's address is kept in an HTTP or WebSocket scope.
TCP_PEER: Final = "tokend.tcp_peer"


class ForwardedHeaders:
    """Keep the TCP peer, then apply the forwarding headers of a trusted proxy."""

    def __init__(self, app: ASGIApp, forwarded_allow_ips: Sequence[str]) -> None:
        self._forwarded = ProxyHeadersMiddleware(
            app,  # type: ignore[arg-type]  # Starlette's ASGIApp is uvicorn's ASGI3Application
            trusted_hosts=list(forwarded_allow_ips),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[TCP_PEER] = client[0] if client else None
        await self._forwarded(scope, receive, send)  # type: ignore[arg-type]  # same ASGI types


def tcp_peer(scope: Scope) -> str | None:
    """The address of the TCP peer of this request; None when it is not known."""
    peer = scope.get(TCP_PEER)
    return peer if isinstance(peer, str) else None
