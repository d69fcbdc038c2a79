"""Who a request came from: the TCP peer, and the client a trusted reverse proxy names.

Behind an ingress every connection comes from the proxy, so the proxy's ``X-Forwarded-For``
names the client: per-address limits and logs must use it, or every user shares the proxy's
bucket. From anyone else the header is the caller's own word, and a caller rotating it would
escape every per-address limit. So the client is taken from ``X-Forwarded-For`` (and the scheme
from ``X-Forwarded-Proto``) only when the TCP peer is in ``server.forwarded_allow_ips``; by
default no peer is, not even loopback.

tokend applies the headers itself, here, rather than leaving it to the ASGI server: uvicorn
replaces the ASGI ``client`` before the app runs and the TCP peer is lost, and granian has no
such option. The TCP peer is kept in the scope first (:func:`tcp_peer`): a decision no header
may talk into (the gateway's trust in Kong) reads it, never the forwarded client.
``tokend serve`` runs uvicorn with its own proxy-header handling off; an app served another way
must be served the same way (``uvicorn --no-proxy-headers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

#: Where the TCP peer's address is kept in an HTTP or WebSocket scope.
TCP_PEER: Final = "tokend.tcp_peer"


class ForwardedHeaders:
    """Keep the TCP peer in the scope, then apply the forwarding headers of a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Sequence[IPv4Network | IPv6Network]) -> None:
        # uvicorn's middleware walks X-Forwarded-For from the right and stops at the first
        # address that is not a trusted proxy: what the client wrote to the left of it is
        # ignored. Networks are passed as strings, which it parses back into networks.
        self._forwarded = (
            ProxyHeadersMiddleware(
                app,  # type: ignore[arg-type]  # Starlette's ASGIApp is uvicorn's ASGI3Application
                trusted_hosts=[str(network) for network in trusted],
            )
            if trusted
            else None
        )
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[TCP_PEER] = client[0] if client else None
        if self._forwarded is None:
            await self._app(scope, receive, send)
            return
        await self._forwarded(scope, receive, send)  # type: ignore[arg-type]  # same ASGI types


def tcp_peer(scope: Scope) -> str | None:
    """The address of the TCP peer of this request; None when it is not known."""
    peer = scope.get(TCP_PEER)
    return peer if isinstance(peer, str) else None
