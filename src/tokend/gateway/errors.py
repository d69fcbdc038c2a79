"""Seed 004's errors (AUTH_001 … AUTH_012) and their RFC 7807 body.

    Unauthorized ── MissingConsumerHeaders (AUTH_001) · ConsumerNotFound (AUTH_002)
                 ├─ AnonymousConsumer (AUTH_009) · TokenExpired (AUTH_010)
    BadRequest ──── InvalidRequestFormat (AUTH_007) · InvalidToken (AUTH_011)
                 └─ MissingAuthorization (AUTH_012)
    TokendError ─── JwtCreationFailed (AUTH_003, 500) · InternalError (AUTH_008, 500)
    ServiceUnavailable ── KongUnavailable (AUTH_004) · CircuitOpen (AUTH_005)
    RateLimited ── RateLimitExceeded (AUTH_006)

Body: ``{type, title, status, detail, instance, code, requestId, timestamp[, extensions]}``
with ``type = urn:problem-type:auth-service/auth-00N``; errors from outside this module that
reach a gateway route are mapped to the nearest code by status.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar, Final

from starlette.responses import Response

from tokend.core.errors import (
    BadRequest,
    ErrorContext,
    JSONBody,
    MethodNotAllowed,
    RateLimited,
    ServiceUnavailable,
    Surface,
    TokendError,
    Unauthorized,
)


class MissingConsumerHeaders(Unauthorized):
    code = "AUTH_001"
    seed_title: ClassVar[str] = "Missing Consumer Headers"
    default_description = "Required Kong consumer headers are missing from the request"


class ConsumerNotFound(Unauthorized):
    code = "AUTH_002"
    seed_title: ClassVar[str] = "Consumer Not Found"
    default_description = "The specified consumer was not found or has no JWT credentials"


class JwtCreationFailed(TokendError):
    code = "AUTH_003"
    seed_title: ClassVar[str] = "JWT Creation Failed"
    default_description = "Failed to create JWT token due to an internal error"


class KongUnavailable(ServiceUnavailable):
    code = "AUTH_004"
    seed_title: ClassVar[str] = "Kong API Unavailable"
    default_description = "The Kong gateway API is temporarily unavailable"


class CircuitOpen(ServiceUnavailable):
    code = "AUTH_005"
    seed_title: ClassVar[str] = "Circuit Breaker Open"
    default_description = "Service is temporarily unavailable due to circuit breaker protection"


class RateLimitExceeded(RateLimited):
    code = "AUTH_006"
    seed_title: ClassVar[str] = "Rate Limit Exceeded"
    default_description = "Request rate limit has been exceeded"


class InvalidRequestFormat(BadRequest):
    code = "AUTH_007"
    seed_title: ClassVar[str] = "Invalid Request Format"
    default_description = "The request format is invalid or malformed"


class InternalError(TokendError):
    code = "AUTH_008"
    seed_title: ClassVar[str] = "Internal Server Error"
    default_description = "An unexpected internal server error occurred"


class AnonymousConsumer(Unauthorized):
    code = "AUTH_009"
    seed_title: ClassVar[str] = "Anonymous Consumer"
    default_description = "Anonymous consumers are not allowed to request tokens"


class TokenExpired(Unauthorized):
    code = "AUTH_010"
    seed_title: ClassVar[str] = "Token Expired"
    default_description = "The provided JWT token has expired"


class InvalidToken(BadRequest):
    code = "AUTH_011"
    seed_title: ClassVar[str] = "Invalid Token"
    default_description = "The provided JWT token is invalid or malformed"


class MissingAuthorization(BadRequest):
    code = "AUTH_012"
    seed_title: ClassVar[str] = "Missing Authorization"
    default_description = "Authorization header with Bearer token is required"


AUTH_ERRORS: Final[tuple[type[TokendError], ...]] = (
    MissingConsumerHeaders,
    ConsumerNotFound,
    JwtCreationFailed,
    KongUnavailable,
    CircuitOpen,
    RateLimitExceeded,
    InvalidRequestFormat,
    InternalError,
    AnonymousConsumer,
    TokenExpired,
    InvalidToken,
    MissingAuthorization,
)
_BY_CODE: Final[Mapping[str, type[TokendError]]] = {cls.code: cls for cls in AUTH_ERRORS}
#: Errors raised outside the gateway (a 422 from FastAPI, a 503 while starting) by status.
_BY_STATUS: Final[Mapping[int, type[TokendError]]] = {
    400: InvalidRequestFormat,
    401: MissingConsumerHeaders,
    422: InvalidRequestFormat,
    429: RateLimitExceeded,
    503: KongUnavailable,
}
_METHOD_NOT_ALLOWED_TYPE: Final = "https://httpwg.org/specs/rfc9110.html#status.405"


def iso_millis(moment: datetime) -> str:
    """``2026-01-01T00:00:00.000Z``: the seed's (JavaScript ``toISOString``) format."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_auth(error: TokendError, ctx: ErrorContext) -> Response:
    """Seed 004's RFC 7807 body for ``error``."""
    now = iso_millis(datetime.now(UTC))
    if isinstance(error, MethodNotAllowed):
        return _method_not_allowed(error, ctx, now)
    seed = _seed_class(error)
    own = seed is type(error)
    status = seed.status if not own else error.status
    if own:
        detail = error.description
    elif status >= 500:
        # Text of an error from outside the gateway is not shown for a 5xx: it may say too much.
        action = "validation" if ctx.path.endswith("/validate") else "generation"
        detail = f"An unexpected error occurred during token {action}"
    else:
        detail = error.description
    body: dict[str, object] = {
        "type": "urn:problem-type:auth-service/" + seed.code.lower().replace("_", "-"),
        "title": getattr(seed, "seed_title", error.title),
        "status": status,
        "detail": detail,
        "instance": ctx.path,
        "code": seed.code,
        "requestId": ctx.request_id,
        "timestamp": now,
    }
    if own and error.details:
        body["extensions"] = dict(error.details)
    headers = dict(error.headers)
    return JSONBody(body, status, headers, media_type="application/problem+json")


def _seed_class(error: TokendError) -> type[TokendError]:
    cls = _BY_CODE.get(error.code)
    if cls is not None and isinstance(error, cls):
        return cls
    return _BY_STATUS.get(error.status, InternalError)


def _method_not_allowed(error: TokendError, ctx: ErrorContext, now: str) -> Response:
    allow = error.headers.get("Allow") or error.headers.get("allow") or "GET"
    methods = [m.strip() for m in allow.split(",") if m.strip()]
    body = {
        "type": _METHOD_NOT_ALLOWED_TYPE,
        "title": "Method Not Allowed",
        "status": 405,
        "detail": "The requested method is not allowed for this endpoint. "
        f"Allowed methods: {', '.join(methods)}",
        "instance": ctx.path,
        "requestId": ctx.request_id,
        "timestamp": now,
        "extensions": {"allowedMethods": methods},
    }
    return JSONBody(body, 405, {"Allow": ", ".join(methods)}, "application/problem+json")


AUTH = Surface("seed004", render_auth)
