"""One exception hierarchy for all of tokend, rendered per surface.

    TokendError (500 server_error)
    ├── BadRequest (400 invalid_request)
    │   └── ValidationFailed (422 validation_error)
    ├── Unauthorized (401 unauthorized)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── RequestTimeout (408 request_timeout)
    ├── Conflict (409 conflict)
    ├── ContentTooLarge (413 content_too_large)
    ├── RateLimited (429 rate_limited)
    ├── ServiceUnavailable (503 temporarily_unavailable)
    └── OAuthError: RFC 6749 §5.2 / RFC 6750 §3.1 codes
        InvalidRequest, InvalidClient (401), InvalidGrant, UnauthorizedClient,
        UnsupportedGrantType, InvalidScope, InvalidTarget (RFC 8707), InvalidToken (401),
        InsufficientScope (403), AccessDenied, UnsupportedResponseType, TemporarilyUnavailable (503)

Code raises the error that says what went wrong. ``description`` is shown to the client,
``internal`` only reaches the logs, ``details`` must be safe to show. Which body the client gets
is the surface's business: each route belongs to one :class:`Surface`, whose renderer writes
RFC 6749 JSON, RFC 9457 problem+json or the seed-002 envelope. A capability with a seed-specific
error shape defines its own ``Surface`` beside its routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any, ClassVar

from starlette.responses import Response

from tokend.core.cache_control import NO_STORE
from tokend.core.json_output import compact_json

JsonValue = Any  # what json.dumps accepts; kept loose at this one boundary


class TokendError(Exception):
    code: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500
    default_description: ClassVar[str] = "The server could not complete the request."

    def __init__(
        self,
        description: str | None = None,
        *,
        internal: str | None = None,
        details: Mapping[str, JsonValue] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.description = description or self.default_description
        self.internal = internal
        self.details: Mapping[str, JsonValue] = details or {}
        self.headers: Mapping[str, str] = headers or {}
        super().__init__(self.description)

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class BadRequest(TokendError):
    code, status = "invalid_request", 400
    default_description = "The request is malformed."


class ValidationFailed(BadRequest):
    """Well-formed request whose fields fail validation; ``details['errors']`` lists them."""

    code, status = "validation_error", 422
    default_description = "The request has invalid fields."


class Unauthorized(TokendError):
    code, status = "unauthorized", 401
    default_description = "Authentication is required."


class Forbidden(TokendError):
    code, status = "forbidden", 403
    default_description = "You are not allowed to do this."


class NotFound(TokendError):
    code, status = "not_found", 404
    default_description = "Nothing is here."


class MethodNotAllowed(TokendError):
    code, status = "method_not_allowed", 405
    default_description = "This method is not allowed here."


class RequestTimeout(TokendError):
    """RFC 9110 §15.5.9: the client did not send its request in time; the connection closes."""

    code, status = "request_timeout", 408
    default_description = "The request was not received in time."

    def __init__(self, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        self.headers = {"Connection": "close", **self.headers}


class Conflict(TokendError):
    code, status = "conflict", 409
    default_description = "The request conflicts with the current state."


class ContentTooLarge(TokendError):
    """RFC 9110 §15.5.14: the body is larger than the endpoint accepts. The rest of it is
    never read, so the connection closes after the answer."""

    code, status = "content_too_large", 413
    default_description = "The request body is larger than this endpoint accepts."

    def __init__(self, description: str | None = None, **kwargs: Any) -> None:
        super().__init__(description, **kwargs)
        self.headers = {"Connection": "close", **self.headers}


class RateLimited(TokendError):
    code, status = "rate_limited", 429
    default_description = "Too many requests; try again later."


class ServiceUnavailable(TokendError):
    code, status = "temporarily_unavailable", 503
    default_description = "The service is temporarily unavailable."


class OAuthError(TokendError):
    """Errors whose ``code`` is an OAuth 2.0 error code (RFC 6749 §5.2, RFC 6750 §3.1)."""

    code, status = "invalid_request", 400


class InvalidRequest(OAuthError):
    code, status = "invalid_request", 400
    default_description = "The request is missing a parameter or is otherwise malformed."


class InvalidClient(OAuthError):
    code, status = "invalid_client", 401
    default_description = "Client authentication failed."


class InvalidGrant(OAuthError):
    code, status = "invalid_grant", 400
    default_description = "The grant is invalid, expired or revoked."


class UnauthorizedClient(OAuthError):
    code, status = "unauthorized_client", 400
    default_description = "The client may not use this grant type."


class UnsupportedGrantType(OAuthError):
    code, status = "unsupported_grant_type", 400
    default_description = "The grant type is not supported."


class UnsupportedResponseType(OAuthError):
    code, status = "unsupported_response_type", 400
    default_description = "The response type is not supported."


class InvalidScope(OAuthError):
    code, status = "invalid_scope", 400
    default_description = "The requested scope is invalid or exceeds what was granted."


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the requested resource is unknown, not allowed or not one the caller may use."""

    code, status = "invalid_target", 400
    default_description = "The requested resource is not allowed."


class AccessDenied(OAuthError):
    code, status = "access_denied", 403
    default_description = "The resource owner or server denied the request."


class InvalidToken(OAuthError):
    code, status = "invalid_token", 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    code, status = "insufficient_scope", 403
    default_description = "The access token lacks the required scope."


class TemporarilyUnavailable(OAuthError):
    code, status = "temporarily_unavailable", 503
    default_description = "The server is temporarily unavailable."


SERVER_ERROR_TEXT = "The server hit an unexpected error. Quote the request id when reporting it."

_BY_STATUS: Mapping[int, type[TokendError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    409: Conflict,
    413: ContentTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for_status(status: int, description: str | None = None) -> TokendError:
    """The hierarchy's error for a bare HTTP status (a Starlette 404/405, say)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        return TokendError(SERVER_ERROR_TEXT) if status >= 500 else BadRequest(description)
    return cls(description)


def validation_error(errors: Sequence[Mapping[str, Any]]) -> ValidationFailed:
    """Turn pydantic/FastAPI validation errors into a safe ValidationFailed.

    Only each error's location, message and type are kept: never the submitted ``input``,
    which may be a password or token.
    """
    safe = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]
    first = safe[0] if safe else None
    summary = f"{'.'.join(first['loc'][1:] or first['loc'])}: {first['msg']}" if first else None
    return ValidationFailed(summary, details={"errors": safe})


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What a renderer may use besides the error itself."""

    request_id: str
    path: str
    version: str


Renderer = Callable[[TokendError, ErrorContext], Response]


@dataclass(frozen=True, slots=True)
class Surface:
    """A family of routes that share an error format."""

    name: str
    render: Renderer = field(repr=False)


class JSONBody(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: JsonValue,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        body = compact_json(content)
        super().__init__(body, status_code, headers, media_type or self.media_type)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """Starlette's, with the encoded names and values of a header set reused: most
        answers carry one of a few sets (``no-store``, CORS, a challenge), which Starlette
        lowercases and encodes pair by pair for every answer (the largest single part of an
        introspection's own code in a profile). Sets that vary (a nonce, a description) only
        fill the bounded cache. The values stay in memory there: no answer passes a cookie or
        a credential through ``headers`` (cookies are added with ``set_cookie`` afterwards)."""
        media_type = self.media_type
        if (
            not headers
            or self.status_code < 200
            or self.status_code in (204, 304)  # no length then (RFC 9110 §8.6)
            or media_type is None
            or media_type.startswith("text/")  # Starlette adds a charset
        ):
            super().init_headers(headers)
            return
        raw, has_length, has_type = _encoded(tuple(headers.items()))
        if has_length or has_type:
            super().init_headers(headers)  # Starlette decides what to add
            return
        self.raw_headers = [
            *raw,
            (b"content-length", str(len(self.body)).encode("latin-1")),
            (b"content-type", media_type.encode("latin-1")),
        ]


@lru_cache(maxsize=256)
def _encoded(
    headers: tuple[tuple[str, str], ...],
) -> tuple[tuple[tuple[bytes, bytes], ...], bool, bool]:
    """Starlette's encoding of ``headers`` and whether they set a length or a type already."""
    raw = tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers)
    names = {name for name, _ in raw}
    return raw, b"content-length" in names, b"content-type" in names


def _www_authenticate(error: TokendError) -> dict[str, str]:
    if error.status != 401 and not isinstance(error, InsufficientScope):
        return {}
    if isinstance(error, InvalidClient):
        # RFC 6749 §5.2: a 401 invalid_client names the scheme the client should use.
        return {"WWW-Authenticate": 'Basic realm="tokend"'}
    description = error.description.replace("\\", "\\\\").replace('"', "'")
    return {
        "WWW-Authenticate": f'Bearer realm="tokend", error="{error.code}", '
        f'error_description="{description}"'
    }


def render_oauth(error: TokendError, ctx: ErrorContext) -> Response:
    """RFC 6749 §5.2 body; errors outside the OAuth set map to the nearest OAuth code."""
    code, status = error.code, error.status
    if isinstance(error, ValidationFailed):
        # RFC 6749 §5.2: a malformed or invalid parameter is a 400 invalid_request.
        code, status = "invalid_request", 400
    elif not isinstance(error, OAuthError):
        code = {
            401: "invalid_token",
            403: "access_denied",
            429: "temporarily_unavailable",
            503: "temporarily_unavailable",
        }.get(error.status, "server_error" if error.status >= 500 else "invalid_request")
    headers = {
        **NO_STORE,
        **_www_authenticate(error),
        **error.headers,
    }
    body = {"error": code, "error_description": error.description}
    return JSONBody(body, status, headers)


def render_problem(error: TokendError, ctx: ErrorContext) -> Response:
    """RFC 9457 problem details."""
    body: dict[str, JsonValue] = {
        "type": f"https://tokend.dev/problems/{error.code.replace('_', '-')}",
        "title": error.title,
        "status": error.status,
        "detail": error.description,
        "instance": ctx.path,
        "code": error.code,
        "request_id": ctx.request_id,
    }
    body.update({k: v for k, v in error.details.items() if k not in body})
    headers = {**_www_authenticate(error), **error.headers}
    return JSONBody(body, error.status, headers, media_type="application/problem+json")


def render_envelope(error: TokendError, ctx: ErrorContext) -> Response:
    """The seed-002 envelope: ``{success, message, data, error, metadata}``."""
    body = {
        "success": False,
        "message": error.description,
        "data": None,
        "error": {
            "code": error.code.upper(),
            "message": error.description,
            "details": dict(error.details),
        },
        "metadata": envelope_metadata(ctx.request_id, ctx.version),
    }
    headers = {**_www_authenticate(error), **error.headers}
    return JSONBody(body, error.status, headers)


def envelope_metadata(request_id: str, version: str) -> dict[str, str]:
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "request_id": request_id,
        "version": version,
    }


OAUTH = Surface("oauth", render_oauth)
PROBLEM = Surface("problem", render_problem)
ENVELOPE = Surface("envelope", render_envelope)


def render_detail(error: TokendError, ctx: ErrorContext) -> Response:
    """FastAPI's ``{"detail": ...}`` body, which the seeds built on FastAPI answer (seeds 000
    and 001): the description, or the list of field errors of a 422."""
    detail: object = error.description
    if isinstance(error, ValidationFailed) and "errors" in error.details:
        detail = error.details["errors"]
    return JSONBody({"detail": detail}, error.status, dict(error.headers))


#: Routes that keep a FastAPI seed's ``{"detail"}`` error body.
DETAIL = Surface("detail", render_detail)
