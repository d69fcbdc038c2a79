"""``/register`` (RFC 7591 §3) and ``/register/{client_id}`` (RFC 7592 §2): JSON in, JSON out,
RFC 7591 §3.2.2 errors. Tokens are checked before the body is read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.body_limit import FORM_MAX_BYTES, read_body
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import OAUTH, InvalidRequest, JSONBody, JsonValue
from tokend.core.json_input import InvalidJson, parse_json
from tokend.core.surfaces import surface_router
from tokend.oidc.client_metadata import InvalidClientMetadata
from tokend.oidc.dynamic_registration import DynamicRegistration, client_information
from tokend.oidc.routes.bearer import bearer_token
from tokend.oidc.routes.peer import client_ip

ClientIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._~-]+$")]

_METADATA_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "redirect_uris": {"type": "array", "items": {"type": "string"}},
                        "grant_types": {"type": "array", "items": {"type": "string"}},
                        "response_types": {"type": "array", "items": {"type": "string"}},
                        "token_endpoint_auth_method": {"type": "string"},
                        "client_name": {"type": "string"},
                        "scope": {"type": "string"},
                        "application_type": {"type": "string"},
                        "jwks_uri": {"type": "string"},
                        "software_statement": {"type": "string"},
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True, slots=True)
class RegistrationServices:
    registration: DynamicRegistration
    issuer: str


async def _metadata_body(request: Request) -> dict[str, JsonValue]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        # RFC 7591 §3.1: the metadata is sent as application/json.
        raise InvalidRequest("send the client metadata as application/json")
    try:
        body = parse_json(await read_body(request, FORM_MAX_BYTES))
    except InvalidJson as exc:
        raise InvalidClientMetadata(f"the body is not JSON: {exc.reason}") from None
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the body must be a JSON object of client metadata")
    return body


def _optional_bearer(request: Request) -> str | None:
    return bearer_token(request) if request.headers.get("authorization") else None


def registration_router(get: Callable[[], RegistrationServices]) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc registration"])

    @router.post(
        "/register",
        summary="Dynamic client registration (RFC 7591 §3)",
        status_code=201,
        response_class=JSONBody,
        openapi_extra=_METADATA_BODY,
    )
    async def register(request: Request) -> JSONBody:
        services = get()
        initial_token = _optional_bearer(request)
        await services.registration.admit(initial_token, client_ip(request))
        body = await _metadata_body(request)
        registered = await services.registration.register(body, initial_token)
        return JSONBody(client_information(registered, services.issuer), 201, headers=NO_STORE)

    @router.get(
        "/register/{client_id}",
        summary="Read a registration (RFC 7592 §2.1); answers with a new registration token",
        response_class=JSONBody,
    )
    async def read(client_id: ClientIdPath, request: Request) -> JSONBody:
        services = get()
        registered = await services.registration.read(client_id, bearer_token(request))
        return JSONBody(client_information(registered, services.issuer), headers=NO_STORE)

    @router.put(
        "/register/{client_id}",
        summary="Update a registration (RFC 7592 §2.2); answers with a new registration token",
        response_class=JSONBody,
        openapi_extra=_METADATA_BODY,
    )
    async def update(client_id: ClientIdPath, request: Request) -> JSONBody:
        services = get()
        # RFC 7592 §2: the token is checked before the body is read.
        found = await services.registration.authorized(client_id, bearer_token(request))
        registered = await services.registration.update(found, await _metadata_body(request))
        return JSONBody(client_information(registered, services.issuer), headers=NO_STORE)

    @router.delete(
        "/register/{client_id}",
        summary="Delete a registration (RFC 7592 §2.3)",
        status_code=204,
    )
    async def delete(client_id: ClientIdPath, request: Request) -> Response:
        await get().registration.delete(client_id, bearer_token(request))
        return Response(status_code=204, headers=NO_STORE)

    return router
