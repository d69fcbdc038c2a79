"""The broker's errors and the two error shapes its routes answer in.

    BadRequest ── TelcoNotFound (400 "Destination Telco data not found", seed 000)
               └─ UpstreamBadRequest (400: the operator said the request was malformed)
    Unauthorized ── UpstreamRejected (401: the operator refused the code or the broker)
    ServiceUnavailable ── UpstreamFailed (503: unreachable, timed out, 5xx, malformed answer)
                        (BreakerOpen from core is a 503 too)

Seed routes answer ``{"detail": "..."}`` (seed 000, FastAPI's HTTPException body); the Telco
Finder answers the CAMARA error body ``{"status", "code", "message"}``.

An operator's answer is carried by its error as :class:`SeedAnswer`, what seed 000 relayed: the
operator's status with ``Telco service error: <its raw body>``, 500 ``Internal server error``
for a malformed 200. The :data:`SEED_DETAIL` surface (``TOKEND_BROKER__SEED_ERRORS``) puts that
on the wire; :data:`DETAIL` keeps tokend's statuses (an operator's 5xx is the broker's 503).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    render_detail,
)

#: Seed 000's texts on the wire; which operator and why go to the logs and metrics.
TELCO_ERROR: Final = "Telco service error"
CONTACT_FAILED: Final = "Failed to contact telco service"


@dataclass(frozen=True, slots=True)
class SeedAnswer:
    """What seed 000 answered for an operator's answer: its status and detail text."""

    status: int
    detail: str


class TelcoNotFound(BadRequest):
    default_description = "Destination Telco data not found"


class _OperatorError(TokendError):
    def __init__(
        self,
        description: str | None = None,
        *,
        seed: SeedAnswer | None = None,
        internal: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description, internal=internal, headers=headers)
        self.seed = seed


class UpstreamBadRequest(_OperatorError, BadRequest):
    default_description = TELCO_ERROR


class UpstreamRejected(_OperatorError, Unauthorized):
    default_description = TELCO_ERROR


class UpstreamFailed(_OperatorError, ServiceUnavailable):
    default_description = CONTACT_FAILED


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


def render_seed_detail(error: TokendError, ctx: ErrorContext) -> Response:
    """Seed 000's ``{"detail"}`` bodies, the operator's answer relayed as the seed did."""
    seed = error.seed if isinstance(error, _OperatorError) else None
    if seed is None:
        return render_detail(error, ctx)
    return JSONBody({"detail": seed.detail}, seed.status, dict(error.headers))


SEED_DETAIL = Surface("detail", render_seed_detail)
