"""``/userinfo`` (OIDC Core §5.3), ``/introspect`` (RFC 7662) and ``/revoke`` (RFC 7009)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.body_limit import FORM_MAX_BYTES
from tokend.core.cache_control import NO_STORE
from tokend.core.errors import (
    OAUTH,
    InsufficientScope,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    JSONBody,
)
from tokend.core.forms import form_params
from tokend.core.surfaces import surface_router
from tokend.oidc.audit import AuditEvent
from tokend.oidc.domain import Client
from tokend.oidc.endpoints.bearer import bearer_token
from tokend.oidc.provider import Provider
from tokend.oidc.tokens import TokenInfo

INACTIVE: dict[str, object] = {"active": False}


def _token_form(extra: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
    properties = {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}
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


def resource_router(get: Callable[[], Provider]) -> APIRouter:
    router = surface_router(OAUTH, max_body_bytes=FORM_MAX_BYTES, tags=["oidc"])

    async def userinfo(request: Request, form_token: str | None) -> JSONBody:
        provider = get()
        info = await provider.reader.read(bearer_token(request, form_token))
        if info is None or info.user_id is None:
            raise InvalidToken("the access token is invalid, expired or revoked")
        # OIDC Core §5.3: userinfo is for tokens granted with the openid scope.
        if "openid" not in info.scopes:
            raise InsufficientScope("the access token lacks the openid scope")
        user = await provider.users.by_id(info.user_id)
        if user is None or user.disabled:
            raise InvalidToken("the access token is invalid, expired or revoked")
        return JSONBody(user.claims_for(info.scopes), headers=NO_STORE)

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

    async def authenticated(provider: Provider, request: Request) -> tuple[Client, str, str]:
        form = await form_params(request)
        client = await provider.authenticator.authenticate(
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
    async def introspect(request: Request) -> JSONBody:
        provider = get()
        client, token, hint = await authenticated(provider, request)
        # RFC 7662 §2.1: the caller must be authorised; public clients are not.
        if client.is_public:
            raise InvalidClient("public clients cannot introspect tokens")
        body = await _describe(provider, client, token, hint)
        return JSONBody(body, headers=NO_STORE)

    @router.post(
        "/revoke",
        summary="Token revocation (RFC 7009)",
        openapi_extra=_token_form(),
    )
    async def revoke(request: Request) -> Response:
        provider = get()
        client, token, hint = await authenticated(provider, request)
        await _revoke(provider, client, token, hint)
        # RFC 7009 §2.2: 200 whether or not the token was valid.
        return Response(status_code=200, headers=NO_STORE)

    return router


def may_introspect(caller: Client, info: TokenInfo) -> bool:
    """RFC 7662 §2.1 leaves to the server which callers may learn about a token: here the
    client it was issued to and the resource servers it is meant for (a client whose id is
    one of the token's audiences), as node-oidc-provider does. Any other caller is told
    ``active: false`` (§2.2), so introspection reveals nothing about other clients' tokens."""
    return info.client_id == caller.client_id or caller.client_id in info.audience


async def _refresh_info(provider: Provider, caller: Client, token: str) -> dict[str, object] | None:
    refresh = await provider.grant_deps.refresh.find(provider.hasher.hash(token))
    if refresh is None:
        return None
    now = provider.clock.now()
    # A refresh token is for its own client alone (RFC 6749 §6, RFC 7662 §2.1).
    if refresh.client_id != caller.client_id:
        return dict(INACTIVE)
    if refresh.revoked_at is not None or refresh.rotated_at is not None:
        return dict(INACTIVE)
    if refresh.expires_at <= now:
        return dict(INACTIVE)
    return {
        "active": True,
        "scope": " ".join(sorted(refresh.scopes)),
        "client_id": refresh.client_id,
        "sub": refresh.user_id,
        "exp": int(refresh.expires_at.timestamp()),
        "iss": provider.issuer,
        "token_type": "refresh_token",
    }


async def _describe(provider: Provider, caller: Client, token: str, hint: str) -> dict[str, object]:
    if len(token) > 8192:
        return dict(INACTIVE)
    # RFC 7662 §2.1: the hint only orders the lookups.
    if hint == "refresh_token" and token.count(".") != 2:
        found = await _refresh_info(provider, caller, token)
        if found is not None:
            return found
    info = await provider.reader.read(token)
    if info is not None and not may_introspect(caller, info):
        return dict(INACTIVE)
    if info is not None:
        iat, exp = _epoch(info)
        body: dict[str, object] = {
            "active": True,
            "scope": " ".join(sorted(info.scopes)),
            "client_id": info.client_id,
            "sub": info.subject,
            "exp": exp,
            "iat": iat,
            "iss": provider.issuer,
            "aud": list(info.audience),
            "token_type": "Bearer",
        }
        if info.jti is not None:
            body["jti"] = info.jti
        return body
    if token.count(".") != 2:
        found = await _refresh_info(provider, caller, token)
        if found is not None:
            return found
    return dict(INACTIVE)


async def _revoke(provider: Provider, client: Client, token: str, hint: str) -> None:
    if len(token) > 8192:
        return
    now = provider.clock.now()
    if token.count(".") != 2:
        refresh = await provider.grant_deps.refresh.find(provider.hasher.hash(token))
        # RFC 7009 §2.1: only the client the token was issued to may revoke it.
        if refresh is not None:
            if refresh.client_id == client.client_id:
                # RFC 7009 §2.1: revoking a refresh token revokes its whole grant.
                await provider.grant_deps.refresh.revoke_grant(refresh.grant_id, now)
                await provider.revocations.revoke_grant(refresh.grant_id)
                provider.audit.record(
                    AuditEvent.TOKEN_REVOKED,
                    client_id=client.client_id,
                    user_id=refresh.user_id,
                    token_type="refresh_token",  # noqa: S106  (a token type)
                )
            return
        info = await provider.reader.read(token)
        if info is not None and info.client_id == client.client_id:
            await provider.reader.revoke_opaque(token)
            _audit_access(provider, info)
        return
    info = await provider.reader.read(token)
    if info is None or info.client_id != client.client_id or info.jti is None:
        return
    await provider.revocations.revoke_jti(info.jti, info.expires_at)
    _audit_access(provider, info)


def _audit_access(provider: Provider, info: TokenInfo) -> None:
    provider.audit.record(
        AuditEvent.TOKEN_REVOKED,
        client_id=info.client_id,
        user_id=info.user_id,
        token_type="access_token",  # noqa: S106  (a token type)
    )
