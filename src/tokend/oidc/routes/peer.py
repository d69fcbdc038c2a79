"""Who sent a request, as far as the server can tell."""

from __future__ import annotations

from starlette.requests import Request


def client_ip(request: Request) -> str:
    """The address the server sees the request coming from; what rate limits are keyed by."""
    return request.client.host if request.client is not None else "unknown"
