"""RFC 8693 token exchange: a tokend-issued token in, the connection's provider token out.

A service holding a token tokend issued with the ``vault:exchange`` scope for the admin audience
(RFC 9068 ``at+jwt``, not revoked) presents it as ``subject_token`` and names the connection as
``resource`` (``urn:tokend:vault:client:<id>`` or the bare id); it gets the provider's access
token, refreshed first if due, only for a connection of a tenant its ``vault_clients`` claim
names (``vault.access``: no claim, no connection, unless it carries ``vault:admin``). It no
longer fetches secrets by client id alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import (
    OAUTH,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
    JSONBody,
    UnsupportedGrantType,
)
from tokend.core.forms import form_openapi, form_params
from tokend.core.surfaces import surface_router
from tokend.vault.access import VaultAccess
from tokend.vault.errors import ClientNotFound
from tokend.vault.schemas import MAX_ID
from tokend.vault.service import VaultService

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, JWT_TYPE})
RESOURCE_PREFIX: Final = "urn:tokend:vault:client:"
_FIELDS: Final = {
    "grant_type": GRANT_TYPE,
    "subject_token": "An access token tokend issued with the vault:exchange scope",
    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token (or :jwt)",
    "resource": "The connection: urn:tokend:vault:client:<id> or the id",
    "requested_token_type": "urn:ietf:params:oauth:token-type:access_token (optional)",
}
_REQUIRED: Final = ("grant_type", "subject_token", "subject_token_type")

#: RFC 8707 §2: the resource names no connection the caller may use.
NOT_YOUR_CONNECTION: Final = "The resource is not a connection you may use."


def exchange_router(service: Callable[[], VaultService], access: VaultAccess) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["vault token exchange"])

    @router.post(
        "/token",
        summary="RFC 8693 token exchange for a connection's provider token",
        openapi_extra=form_openapi(_FIELDS, (*_REQUIRED, "resource")),
    )
    async def exchange(request: Request) -> Response:
        form = await form_params(request)
        missing = [name for name in _REQUIRED if form.get(name) is None]
        if missing:
            raise InvalidRequest(f"{missing[0]} is required")
        # RFC 8693 §2.1 allows several resources; a connection is exactly one.
        resources = form.all("resource")
        if len(resources) != 1:
            raise InvalidRequest("name one connection as resource")
        if form.get("grant_type") != GRANT_TYPE:
            raise UnsupportedGrantType
        if form.get("subject_token_type") not in SUBJECT_TYPES:
            raise InvalidRequest("subject_token_type must be an access token or a JWT")
        # RFC 8693 §2.1: the only token this endpoint issues is the provider's access token.
        if form.get("requested_token_type") not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequest("requested_token_type must be an access token")
        client_pk = _connection_id(resources[0])
        caller = await access.exchanger(form.get("subject_token") or "")
        try:
            caller.check_client(client_pk)
            result = await service().validate(client_pk)
        except ClientNotFound:
            raise InvalidTarget(NOT_YOUR_CONNECTION) from None
        if not result.is_valid or result.access_token is None:
            raise InvalidGrant(result.message)
        body: dict[str, object] = {
            "access_token": result.access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
        }
        if result.expires_at is not None:
            now = service().now()
            body["expires_in"] = max(0, int((result.expires_at - now).total_seconds()))
        return JSONBody(body, headers=NO_STORE)

    return router


def _connection_id(resource: str) -> int:
    raw = resource.removeprefix(RESOURCE_PREFIX)
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise InvalidTarget(NOT_YOUR_CONNECTION)
    return int(raw)
