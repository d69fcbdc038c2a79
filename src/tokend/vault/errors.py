"""The vault's errors and the shapes its routes answer them in.

    NotFound ── ClientNotFound, BranchNotFound, NoToken
    BadRequest ── AlreadyExists (seed 001 answers duplicates with 400), InvalidState,
               ├─ NoRefreshToken, ConnectionBroken (the provider said invalid_grant)
               └─ ProviderRefused (the provider refused a code exchange)
    ServiceUnavailable ── ProviderUnavailable (network error, timeout, 5xx, bad answer)

Seed routes answer FastAPI's ``{"detail": ...}`` (a list of field errors for a 422); the OAuth
callback answers a browser (``Accept: text/html``) with a small HTML page instead.
"""

from __future__ import annotations

import html

from tokend.core.errors import (
    BadRequest,
    NotFound,
    ServiceUnavailable,
)


class ClientNotFound(NotFound):
    default_description = "Client not found"


class BranchNotFound(NotFound):
    default_description = "Branch not found"


class NoToken(NotFound):
    default_description = "No valid token found for client"


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


def result_page(title: str, message: str, request_id: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f"<p><small>Request id: {html.escape(request_id)}</small></p></body></html>"
    )
