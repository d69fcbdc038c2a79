"""The vault's errors and the shapes its routes answer them in.

    NotFound ── ClientNotFound, BranchNotFound, NoToken
    Conflict ── ReauthorizationRequired (the token expired and cannot be refreshed)
    BadRequest ── AlreadyExists (seed 001 answers duplicates with 400), InvalidState,
               ├─ NoRefreshToken, ConnectionBroken (the provider said invalid_grant)
               └─ ProviderRefused (the provider refused a code exchange)
    ServiceUnavailable ── ProviderUnavailable (network error, timeout, 5xx, bad answer)

Seed routes answer FastAPI's ``{"detail": ...}`` (a list of field errors for a 422); the OAuth
callback answers a browser (``Accept: text/html``) with a small HTML page instead.
"""

from __future__ import annotations

import html
from typing import Final

from starlette.responses import Response

from tokend.core.errors import (
    BadRequest,
    Conflict,
    ErrorContext,
    JSONBody,
    NotFound,
    ServiceUnavailable,
    Surface,
    TokendError,
    render_detail,
)

#: Seed 001 ``GET /tokens/{branch_id}`` for an unknown branch (or its client).
BRANCH_NOT_FOUND: Final = "Client/Branch not found"


class ClientNotFound(NotFound):
    default_description = "Client not found"


class BranchNotFound(NotFound):
    default_description = "Branch not found"


class NoToken(NotFound):
    default_description = "No valid token found for client"


class ReauthorizationRequired(Conflict):
    """RFC 9110 §15.5.10: the stored token expired and cannot be refreshed (no refresh token,
    or the provider ended the grant): the user must connect again. Seed 001 raised a 400
    inside its handler, which its outer handler turned into a 500."""

    code = "reauthorization_required"
    default_description = "Token expired. Please complete OAuth flow again."


class AlreadyExists(BadRequest):
    default_description = "Already exists"


class InvalidState(BadRequest):
    default_description = "Invalid or expired OAuth state"


class NoRefreshToken(BadRequest):
    default_description = "No refresh token available. Please complete OAuth flow again."


class ConnectionBroken(BadRequest):
    default_description = (
        "Failed to refresh token: invalid_grant. Please complete OAuth flow again."
    )


class ProviderRefused(BadRequest):
    default_description = "The provider refused the request."


class ProviderUnavailable(ServiceUnavailable):
    default_description = "The OAuth provider could not be reached; try again later."


def render_vault_detail(error: TokendError, ctx: ErrorContext) -> Response:
    """FastAPI's ``{"detail"}`` (seed 001), plus a machine-readable ``code`` on a 409."""
    if isinstance(error, ReauthorizationRequired):
        body = {"detail": error.description, "code": error.code}
        return JSONBody(body, error.status, dict(error.headers))
    return render_detail(error, ctx)


VAULT_DETAIL = Surface("detail", render_vault_detail)


def result_page(title: str, message: str, request_id: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f"<p><small>Request id: {html.escape(request_id)}</small></p></body></html>"
    )
