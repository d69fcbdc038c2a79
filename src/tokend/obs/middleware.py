"""One pure-ASGI middleware per request: request id, metrics, access log, last-resort 500.

Written as raw ASGI rather than BaseHTTPMiddleware: it sits on every hot path, and the raw form
costs one function call instead of a task and a stream per request.
"""

from __future__ import annotations

import re
import time
from contextvars import ContextVar
from typing import Any, Final

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from tokend.core.crypto import id_bytes
from tokend.core.errors import ServiceUnavailable, TokendError
from tokend.core.surfaces import SurfaceResolver, render_unexpected
from tokend.obs.logging import AccessLog
from tokend.obs.metrics import HttpMetrics
from tokend.store.engine import is_database_outage

log = structlog.get_logger("tokend.http")


def _structlog_variable(key: str) -> ContextVar[Any]:
    """The context variable in which structlog keeps ``key`` for every line of the context
    (``merge_contextvars`` reads it), found through structlog's public API: a binding's token
    names its variable. Setting it directly is what ``bind_contextvars`` does for one key,
    without the dict of tokens and the key's name built each time (a microsecond of every
    request, both ways)."""
    tokens = bind_contextvars(**{key: None})
    reset_contextvars(**tokens)
    return tokens[key].var


_REQUEST_ID: Final = _structlog_variable("request_id")


class DatabaseUnavailable(ServiceUnavailable):
    default_description = "The service is temporarily unavailable; try again shortly."

    def __init__(self) -> None:
        # RFC 9110 §10.2.3: when to try again.
        super().__init__(headers={"Retry-After": "5"})


_REQUEST_ID_HEADERS = (b"x-request-id", b"x-correlation-id")
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name in _REQUEST_ID_HEADERS and _VALID_REQUEST_ID.match(value):
            return bytes(value).decode("ascii")
    # 128 random bits as 32 hex digits, like uuid4().hex but a sixth of its cost (its UUID
    # object is built in Python): this runs for every request without an incoming id.
    return id_bytes(16).hex()


def route_template(scope: Scope) -> str:
    """The matched route's template with the prefixes it was included under, e.g.
    ``/broker/api/demo/token``; ``<unmatched>`` when no route matched.

    FastAPI (0.16x) includes routers lazily: the matched route keeps its own path and the
    include prefixes exist only in the request path. tokend's prefixes are literal (no path
    parameters), so the request path's segments ahead of the route's own are the prefix and
    the label's cardinality stays bounded by the routes.
    """
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return "<unmatched>"
    path = str(scope.get("path", ""))
    if "{" not in template and path.endswith(template):
        return path  # a literal route's: its prefixes and itself, what the split below gives
    segments = path.split("/")
    prefix = "/".join(segments[: max(1, len(segments) - template.count("/"))])
    return prefix + template if prefix else template


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        resolver: SurfaceResolver,
        version: str,
        access_log: AccessLog | None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.resolver = resolver
        self.version = version
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        id_header = request_id.encode("latin-1")
        scope.setdefault("state", {})["request_id"] = request_id
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                # What MutableHeaders(scope=message).append("X-Request-ID", ...) does.
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", id_header)]
            await send(message)

        in_progress = self.metrics.in_flight(method)
        in_progress.inc()
        start = time.perf_counter()
        # What structlog's bound_contextvars(request_id=...) does, one variable directly.
        bound = _REQUEST_ID.set(request_id)
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if is_database_outage(exc):
                    # A temporary state of the deployment, not a crash: 503 says retry.
                    log.warning(
                        "request.database_unavailable",
                        method=method,
                        route=route_template(scope),
                        error=type(exc).__name__,
                    )
                    error: TokendError | None = DatabaseUnavailable()
                else:
                    log.exception("request.crashed", method=method, route=route_template(scope))
                    error = None
                if started:
                    raise
                response = render_unexpected(scope, self.resolver, self.version, error)
                await response(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - start
                in_progress.dec()
                route = route_template(scope)
                requests, duration = self.metrics.answered(method, route, str(status))
                requests.inc()
                duration.observe(elapsed)
                if self.access_log is not None:
                    self.access_log(method, route, status, elapsed, request_id)
        finally:
            _REQUEST_ID.reset(bound)
