"""The seed-002 envelope (``app/response_wrapper.py``): success and error bodies, and the seed's
``APIResponse`` shorthands, for services that answer in it themselves.

Errors tokend raises are rendered by the spine's ``render_envelope``; the helpers here are for
a route that returns an error body on purpose (seed 002 ``APIResponse.unauthorized(...)``).
``metadata.version`` is the API version of the envelope, ``"1.0"`` as the seed's, not tokend's
package version (``TOKEND_GUARD__ENVELOPE_VERSION`` inside tokend).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import (
    ErrorContext,
    JSONBody,
    JsonValue,
    Surface,
    TokendError,
    envelope_metadata,
    render_envelope,
)
from tokend.core.surfaces import request_id_of

#: Seed 002's ``metadata.version``: the version of the envelope's API.
ENVELOPE_VERSION: Final = "1.0"


def envelope_surface(version: str) -> Surface:
    """The error surface of routes answering in the envelope, ``metadata.version`` = ``version``."""

    def render(error: TokendError, ctx: ErrorContext) -> Response:
        return render_envelope(error, replace(ctx, version=version))

    return Surface("envelope", render)


def human_duration(seconds: int) -> str:
    """Seed 002 wording: "N minutes" for whole minutes, "N seconds" otherwise."""
    if seconds and seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


def success_body(
    data: JsonValue,
    message: str,
    *,
    request_id: str,
    version: str = ENVELOPE_VERSION,
    now: datetime,
    ttl_s: int | None = None,
    success: bool = True,
) -> dict[str, JsonValue]:
    """``{success, message, data, metadata}``; ``success=False`` as seed 002's later
    ``wrap_response(..., success=False)`` (an error body with a code: :func:`error_body`)."""
    metadata: dict[str, JsonValue] = dict(envelope_metadata(request_id, version))
    metadata["timestamp"] = _iso(now)
    if ttl_s is not None:
        metadata["ttl"] = {
            "value": ttl_s,
            "unit": "seconds",
            "expires_at": _iso(now + timedelta(seconds=ttl_s)),
            "human_readable": human_duration(ttl_s),
        }
    return {"success": success, "message": message, "data": data, "metadata": metadata}


def envelope(
    request: Request,
    data: JsonValue,
    message: str = "Success",
    *,
    version: str = ENVELOPE_VERSION,
    now: datetime,
    ttl_s: int | None = None,
    status_code: int = 200,
    success: bool = True,
) -> JSONBody:
    body = success_body(
        data,
        message,
        request_id=request_id_of(request.scope),
        version=version,
        now=now,
        ttl_s=ttl_s,
        success=success,
    )
    return JSONBody(body, status_code, NO_STORE)


def error_body(
    message: str,
    *,
    code: str | None = None,
    status_code: int = 400,
    details: JsonValue = None,
    version: str = ENVELOPE_VERSION,
    now: datetime | None = None,
    request_id: str | None = None,
) -> dict[str, JsonValue]:
    """Seed 002's error envelope ``{success: false, error{message, code, details}, metadata}``;
    ``code`` defaults to ``ERR_<status>`` as the seed's ``APIResponse.error``."""
    metadata: dict[str, JsonValue] = {
        "timestamp": _iso(now or datetime.now(UTC)),
        "version": version,
    }
    if request_id is not None:
        metadata["request_id"] = request_id
    return {
        "success": False,
        "error": {
            "message": message,
            "code": code or f"ERR_{status_code}",
            "details": details,
        },
        "metadata": metadata,
    }


class APIResponse:
    """Seed 002's response shorthands, each a ready :class:`JSONBody` in the envelope."""

    version: str = ENVELOPE_VERSION

    @classmethod
    def success(
        cls,
        data: JsonValue = None,
        message: str = "Success",
        *,
        status_code: int = 200,
        ttl_s: int | None = None,
    ) -> JSONBody:
        body = wrap_response(data, message, ttl_s, version=cls.version)
        return JSONBody(body, status_code, NO_STORE)

    @classmethod
    def error(
        cls,
        message: str,
        status_code: int = 400,
        code: str | None = None,
        details: JsonValue = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONBody:
        body = error_body(
            message, code=code, status_code=status_code, details=details, version=cls.version
        )
        return JSONBody(body, status_code, {**NO_STORE, **(headers or {})})

    @classmethod
    def unauthorized(
        cls, message: str = "Authentication required", details: JsonValue = None
    ) -> JSONBody:
        # RFC 6750 §3: a 401 names the scheme the client should use.
        challenge = {"WWW-Authenticate": "Bearer"}
        return cls.error(message, 401, "UNAUTHORIZED", details, headers=challenge)

    @classmethod
    def forbidden(cls, message: str = "Access forbidden", details: JsonValue = None) -> JSONBody:
        return cls.error(message, 403, "FORBIDDEN", details)

    @classmethod
    def not_found(cls, message: str = "Resource not found", details: JsonValue = None) -> JSONBody:
        return cls.error(message, 404, "NOT_FOUND", details)

    @classmethod
    def server_error(
        cls, message: str = "Internal server error", details: JsonValue = None
    ) -> JSONBody:
        return cls.error(message, 500, "INTERNAL_ERROR", details)


def wrap_response(
    data: JsonValue,
    message: str = "Success",
    ttl: int | None = None,
    success: bool = True,
    version: str = ENVELOPE_VERSION,
) -> dict[str, JsonValue]:
    """Seed 002's ``wrap_response``: the envelope as a dict, for a route to return."""
    body = success_body(
        data,
        message,
        request_id="",
        version=version,
        now=datetime.now(UTC),
        ttl_s=ttl,
        success=success,
    )
    metadata = body["metadata"]
    assert isinstance(metadata, dict)
    metadata.pop("request_id", None)
    return body


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
