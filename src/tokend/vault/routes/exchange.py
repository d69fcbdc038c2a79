"""RFC 8693 token exchange: a tokend-issued token in, the connection's provider token out.

A service holding a token tokend issued with the ``vault:exchange`` scope (and, if the token
says so, rights to the client) presents it as ``subject_token`` and names the connection as
``resource`` (``urn:tokend:vault:client:<id>`` or the bare id); it gets the provider's access
token, refreshed first if due. It no longer fetches secrets by client id alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from fastapi import APIRouter, Form
from starlette.responses import Response

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import (
    OAUTH,
    InsufficientScope,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
    JSONBody,
    UnsupportedGrantType,
)
from tokend.core.surfaces import surface_router
from tokend.vault.access import ADMIN, EXCHANGE, VaultAccess
from tokend.vault.errors import ClientNotFound
from tokend.vault.schemas import MAX_ID
from tokend.vault.service import VaultService

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
SUBJECT_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, JWT_TYPE})
RESOURCE_PREFIX: Final = "urn:tokend:vault:client:"

#: RFC 8707 §2: the resource names no connection the caller may use.
NOT_YOUR_CONNECTION: Final = "The resource is not a connection you may use."


def exchange_router(service: Callable[[], VaultService], access: VaultAccess) -> APIRouter:
    router = surface_router(OAUTH, tags=["vault token exchange"])

    @router.post("/token", summary="RFC 8693 token exchange for a connection's provider token")
    async def exchange(
        grant_type: str = Form(max_length=128),
        subject_token: str = Form(max_length=32_768),
        subject_token_type: str = Form(max_length=128),
        resource: str = Form(max_length=256),
        requested_token_type: str | None = Form(default=None, max_length=128),
    ) -> Response:
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType
        if subject_token_type not in SUBJECT_TYPES:
            raise InvalidRequest("subject_token_type must be an access token or a JWT")
        # RFC 8693 §2.1: the only token this endpoint issues is the provider's access token.
        if requested_token_type not in (None, ACCESS_TOKEN_TYPE):
            raise InvalidRequest("requested_token_type must be an access token")
        client_pk = _connection_id(resource)
        caller = access.caller_of(subject_token)
        if EXCHANGE not in caller.scopes and ADMIN not in caller.scopes:
            raise InsufficientScope(f"the {EXCHANGE} scope is required")
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
