"""The broker's errors and the two error shapes its routes answer in.

    BadRequest ── TelcoNotFound (400 "Destination Telco data not found", seed 000)
               └─ UpstreamBadRequest (400: the operator said the request was malformed)
    Unauthorized ── UpstreamRejected (401: the operator refused the code or the broker)
    ServiceUnavailable ── UpstreamFailed (503: unreachable, timed out, 5xx, malformed answer)
                        (BreakerOpen from core is a 503 too)

Seed routes answer ``{"detail": "..."}`` (seed 000, FastAPI's HTTPException body); the Telco
Finder answers the CAMARA error body ``{"status", "code", "message"}``.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response

from tokend.core.errors import (
    BadRequest,
    ErrorContext,
    JSONBody,
    ServiceUnavailable,
    Surface,
    TokendError,
    Unauthorized,
)


class TelcoNotFound(BadRequest):
    default_description = "Destination Telco data not found"


class UpstreamBadRequest(BadRequest):
    default_description = "Telco service error"


class UpstreamRejected(Unauthorized):
    default_description = "Telco service error"


class UpstreamFailed(ServiceUnavailable):
    default_description = "Failed to contact telco service"


#: Errors raised for an upstream that answered: they must not count against its breaker.
UPSTREAM_REFUSALS: Final = (UpstreamBadRequest, UpstreamRejected)


_CAMARA_CODES: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    422: "INVALID_ARGUMENT",
    429: "TOO_MANY_REQUESTS",
    503: "UNAVAILABLE",
}


def render_camara(error: TokendError, ctx: ErrorContext) -> Response:
    """CAMARA error body (CAMARA API Design Guidelines §3.2): ``{status, code, message}``."""
    status = 400 if error.status == 422 else error.status
    code = _CAMARA_CODES.get(status, "INTERNAL")
    body = {"status": status, "code": code, "message": error.description}
    return JSONBody(body, status, dict(error.headers))


CAMARA = Surface("camara", render_camara)
