"""Seed 004's HTTP around the token routes: CORS (preflights and the allowed origin on
answers), the ``Accept-Version: v2`` headers, and the caller's W3C trace context carried to the
Kong Admin API whether or not tokend exports traces itself."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import context, propagate, trace
from starlette.datastructures import Headers

from tokend.gateway.settings import GatewaySettings

#: Seed 004 ``handleOptionsRequest``: methods and cache lifetime of a preflight.
ALLOW_METHODS: Final = "GET, POST, OPTIONS"
PREFLIGHT_MAX_AGE_S: Final = 86_400
#: Seed 004's v2 security headers (OWASP), and ``API-Version``. Its non-standard
#: ``X-Security-Version``/``X-Content-Security`` and the obsolete ``X-XSS-Protection`` are left
#: out (README, differences from the seeds).
V2_HEADERS: Final[Mapping[str, str]] = {
    "API-Version": "v2",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=(), payment=(), usb=()",
}


class Cors:
    """The allowed origins of the token routes (``*`` or a list; empty: no CORS at all)."""

    __slots__ = ("_any", "_origins", "allow_headers")

    def __init__(self, origins: Sequence[str], settings: GatewaySettings) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)
        names = [
            "Content-Type",
            "Authorization",
            "Accept-Version",
            "apikey",
            settings.consumer_id_header,
            settings.consumer_username_header,
            settings.anonymous_header,
        ]
        self.allow_headers = ", ".join(names)

    @property
    def enabled(self) -> bool:
        return bool(self._origins)

    def allow_origin(self, origin: str | None) -> dict[str, str]:
        """``Access-Control-Allow-Origin`` for this request's ``Origin`` (Fetch standard §3.2),
        or nothing when it is not allowed."""
        if self._any:
            return {"Access-Control-Allow-Origin": "*"}
        if origin is not None and origin in self._origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    def preflight(self, origin: str | None) -> dict[str, str]:
        allowed = self.allow_origin(origin)
        if not allowed:
            return {"Vary": "Origin"}
        return {
            **allowed,
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": self.allow_headers,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        }


def cors_of(settings: GatewaySettings, *, alone: bool) -> Cors:
    origins = settings.cors_origins
    if origins is None:
        origins = ["*"] if alone else []
    return Cors(origins, settings)


def version_headers(headers: Headers) -> Mapping[str, str]:
    """The v2 headers when the caller asked for ``Accept-Version: v2`` (seed default v1)."""
    return V2_HEADERS if headers.get("accept-version", "").strip().lower() == "v2" else {}


@contextmanager
def incoming_trace(headers: Headers) -> Iterator[None]:
    """Make the caller's ``traceparent`` the current context when no span is (tracing off), so
    that the Kong call carries it (W3C Trace Context §3.2: pass it on unchanged)."""
    if "traceparent" not in headers or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)
