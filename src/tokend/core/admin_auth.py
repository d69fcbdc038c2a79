"""Static admin bearer tokens for operator endpoints, until the OIDC provider issues
``tokend:admin`` tokens: one constant-time check shared by every admin surface."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from tokend import __version__
from tokend.core.errors import ErrorContext, Unauthorized, render_problem


def bearer_matches(authorization: str, expected: str) -> bool:
    """True when ``authorization`` is ``Bearer <expected>``; compared in constant time."""
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    )


def require_bearer(app: ASGIApp, expected: str) -> ASGIApp:
    """``app`` behind ``Authorization: Bearer <expected>``; anything else gets a 401 problem."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if bearer_matches(authorization, expected):
            await app(scope, receive, send)
            return
        ctx = ErrorContext(
            request_id=str(scope.get("state", {}).get("request_id", "")),
            path=str(scope.get("path", "")),
            version=__version__,
        )
        response = render_problem(Unauthorized("a valid admin bearer token is required"), ctx)
        await response(scope, receive, send)

    return guarded
