"""``/userinfo`` (OIDC Core §5.3), ``/introspect`` (RFC 7662) and ``/revoke`` (RFC 7009)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.dpop import InvalidDpopProof, at_resource
from tokend.core.errors import (
    OAUTH,
    InvalidClient,
    InvalidRequest,
    JSONBody,
    OAuthError,
    TokendError,
)
from tokend.core.forms import form_params
from tokend.core.surfaces import surface_router
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.cors import RegisteredOrigins, cors_headers, origins_of, preflight_headers
from tokend.oidc.dpop_checks import DpopChecks
from tokend.oidc.introspection import INTROSPECTION_JWT, Introspection, wants_jwt
from tokend.oidc.records import Client, RefreshToken
from tokend.oidc.routes.bearer import access_token
from tokend.oidc.token_revocation import TokenRevocation
from tokend.oidc.tokens import TokenInfo
from tokend.oidc.userinfo import UserInfo


@dataclass(frozen=True, slots=True)
class ResourceServices:
    """What these endpoints call: one lookup per request on these hot paths."""

    clients: ClientAuthenticator
    userinfo: UserInfo
    introspection: Introspection
    revocation: TokenRevocation
    dpop: DpopChecks
    #: Every client's web origins (CORS preflights, /userinfo).
    origins: RegisteredOrigins


INACTIVE: dict[str, object] = {"active": False}


def _token_form(extra: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
    properties = {
        name: {"type": "string"}
        for name in ("token", "token_type_hint", "client_assertion_type", "client_assertion")
    }
    properties.update(extra or {})
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "required": ["token"], "properties": properties}
                }
            },
        }
    }


def _epoch(info: TokenInfo) -> tuple[int, int]:
    return int(info.issued_at.timestamp()), int(info.expires_at.timestamp())


def resource_router(get: Callable[[], ResourceServices], issuer: str) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    async def userinfo(request: Request, form_token: str | None) -> JSONBody:
        services = get()
        # CORS: a bearer token carries no ambient authority, so any registered web origin.
        origins = await services.origins.all()
        cors = cors_headers(request.headers.get("origin"), origins)
        try:
            scheme, token = access_token(request, form_token)
            proof = None
            if scheme == "dpop":
                try:
                    # RFC 9449 §7.1: the proof names this request and hashes the token (ath).
                    proof = await services.dpop.proof(
                        request.headers.getlist("dpop"), request.method, "/userinfo", token
                    )
                except OAuthError as exc:
                    raise at_resource(exc) from None
                if proof is None:
                    raise at_resource(InvalidDpopProof("a DPoP proof is required"))
            claims = await services.userinfo.claims(token, proof)
        except TokendError as exc:
            exc.headers = {**exc.headers, **cors}
            raise
        return JSONBody(claims, headers={**NO_STORE, **services.dpop.nonce_headers(), **cors})

    @router.get("/userinfo", summary="UserInfo endpoint (OIDC Core §5.3)")
    async def userinfo_get(request: Request) -> JSONBody:
        return await userinfo(request, None)

    @router.post(
        "/userinfo",
        summary="UserInfo endpoint, form post (OIDC Core §5.3.1)",
        openapi_extra=_token_form({"access_token": {"type": "string"}}),
    )
    async def userinfo_post(request: Request) -> JSONBody:
        form_token = None
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            form_token = (await form_params(request)).get("access_token")
        return await userinfo(request, form_token)

    async def authenticated(
        services: ResourceServices, request: Request
    ) -> tuple[Client, str, str]:
        form = await form_params(request)
        client = await services.clients.authenticate(
            request.headers.get("authorization", ""), form.single
        )
        token = form.get("token")
        if token is None:
            raise InvalidRequest("token is required")
        return client, token, form.get("token_type_hint") or ""

    @router.post(
        "/introspect",
        summary="Token introspection (RFC 7662)",
        response_class=JSONBody,
        openapi_extra=_token_form(),
    )
    async def introspect(request: Request) -> Response:
        services = get()
        client, token, hint = await authenticated(services, request)
        # RFC 7662 §2.1: the caller must be authorised; public clients are not.
        if client.is_public:
            raise InvalidClient("public clients cannot introspect tokens")
        # A DPoP proof sent to introspection is checked like anywhere else (RFC 9449 §4.3).
        await services.dpop.proof(request.headers.getlist("dpop"), "POST", "/introspect")
        found = await services.introspection.describe(client, token, hint)
        body = _introspection_body(found, issuer)
        if found is not None:
            roles = await services.introspection.roles_of(found)
            body.update({k: v for k, v in roles.items() if k not in body})
        cors = cors_headers(request.headers.get("origin"), origins_of(client))
        signer = services.introspection.signer
        if (
            client.jwt_introspection
            and signer is not None
            and wants_jwt(request.headers.get("accept", ""))
        ):
            # RFC 9701 §5: signed, for the client that asked and opted in.
            return Response(
                signer.sign(body, client),
                media_type=INTROSPECTION_JWT,
                headers={**NO_STORE, **cors},
            )
        return JSONBody(body, headers={**NO_STORE, **cors})

    @router.post(
        "/revoke",
        summary="Token revocation (RFC 7009)",
        openapi_extra=_token_form(),
    )
    async def revoke(request: Request) -> Response:
        services = get()
        client, token, _hint = await authenticated(services, request)
        await services.revocation.revoke(client, token)
        cors = cors_headers(request.headers.get("origin"), origins_of(client))
        # RFC 7009 §2.2: 200 whether or not the token was valid.
        return Response(status_code=200, headers={**NO_STORE, **cors})

    @router.options("/token", include_in_schema=False)
    @router.options("/userinfo", include_in_schema=False)
    @router.options("/introspect", include_in_schema=False)
    @router.options("/revoke", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        # A preflight names no client: any client's web origin gets the answer; the request
        # that follows is answered for its own client only.
        origins = await get().origins.all()
        return Response(
            status_code=204, headers=preflight_headers(request.headers.get("origin"), origins)
        )

    return router


def _introspection_body(found: TokenInfo | RefreshToken | None, issuer: str) -> dict[str, object]:
    """RFC 7662 §2.2 response."""
    if found is None:
        return dict(INACTIVE)
    if isinstance(found, RefreshToken):
        return {
            "active": True,
            "scope": " ".join(sorted(found.scopes)),
            "client_id": found.client_id,
            "sub": found.user_id,
            "exp": int(found.expires_at.timestamp()),
            "iss": issuer,
            "token_type": "refresh_token",
            **_authentication(found.auth_time, found.acr, found.amr),
        }
    iat, exp = _epoch(found)
    body: dict[str, object] = {
        "active": True,
        "scope": " ".join(sorted(found.scopes)),
        "client_id": found.client_id,
        "sub": found.subject,
        "exp": exp,
        "iat": iat,
        "iss": issuer,
        "aud": list(found.audience),
        "token_type": "DPoP" if found.jkt is not None else "Bearer",
    }
    if found.jkt is not None:
        body["cnf"] = {"jkt": found.jkt}  # RFC 9449 §6.2
    if found.jti is not None:
        body["jti"] = found.jti
    # RFC 8693 §4.1 delegation chain, and how the user signed in, when the token has them.
    if found.act is not None:
        body["act"] = dict(found.act)
    body.update(_authentication(found.auth_time, found.acr, found.amr))
    return body


def _authentication(
    auth_time: datetime | None, acr: str | None, amr: tuple[str, ...]
) -> dict[str, object]:
    """OIDC Core §2 ``auth_time``, ``acr`` and RFC 8176 ``amr`` of the user's sign-in, those the
    token has (RFC 9068 §2.2.1; an opaque access token keeps none of them)."""
    found: dict[str, object] = {}
    if auth_time is not None:
        found["auth_time"] = int(auth_time.timestamp())
    if acr is not None:
        found["acr"] = acr
    if amr:
        found["amr"] = list(amr)
    return found
