"""``/logout``: OpenID Connect RP-Initiated Logout 1.0 (GET and POST)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.errors import InvalidToken, TokendError
from tokend.core.forms import Params, request_params
from tokend.core.jwt import verify
from tokend.oidc.audit import AuditEvent
from tokend.oidc.endpoints.authorize import SESSION_COOKIE, client_redirect, cookie_is_secure
from tokend.oidc.endpoints.html import Pages
from tokend.oidc.provider import Provider

#: RP-Initiated Logout §2: an expired ID token is still a fine hint of who is logging out.
HINT_LEEWAY_S = int(timedelta(days=365).total_seconds())


def logout_router(get: Callable[[], Provider], pages: Pages) -> APIRouter:
    # Browser endpoints answer with pages and redirects, not JSON: kept out of the API schema.
    router = APIRouter(tags=["oidc"], include_in_schema=False)

    async def logout(request: Request, params: Params) -> Response:
        provider = get()
        client_id = params.get("client_id")
        hint = params.get("id_token_hint")
        if hint is not None:
            try:
                claims = verify(
                    hint,
                    provider.keyring,
                    algorithms=frozenset({provider.id_token_alg}),
                    issuer=provider.issuer,
                    audience=None,
                    typ="JWT",
                    leeway_s=HINT_LEEWAY_S,
                    clock=provider.clock,
                )
            except InvalidToken:
                return pages.error("The sign-out request is not valid.", title="Sign-out failed")
            audience = claims.audience
            if client_id is not None and client_id not in audience:
                return pages.error("The sign-out request is not valid.", title="Sign-out failed")
            client_id = client_id or (audience[0] if audience else None)
        target = params.get("post_logout_redirect_uri")
        client = await provider.clients.get(client_id) if client_id else None
        if target is not None and (
            client is None or target not in client.post_logout_redirect_uris
        ):
            # Never redirect to an address the client did not register.
            return pages.error(
                "The address to return to after signing out is not registered.",
                title="Sign-out failed",
            )
        value = request.cookies.get(SESSION_COOKIE)
        user_id = None
        if value and len(value) <= 128:
            id_hash = provider.hasher.hash(value)
            session = await provider.sessions.get(id_hash, provider.clock.now())
            user_id = session.user_id if session else None
            await provider.sessions.end(id_hash)
        provider.audit.record(AuditEvent.LOGOUT, client_id=client_id, user_id=user_id)
        response: Response
        if target is not None:
            response = client_redirect(target, {"state": params.get("state")})
        else:
            response = pages.render(
                "message.html", title="You are signed out", message="You can close this window."
            )
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax",
            secure=cookie_is_secure(provider.issuer),
        )  # fmt: skip
        return response

    @router.api_route(
        "/logout", methods=["GET", "POST"], summary="End session (OIDC RP-Initiated Logout)"
    )
    async def logout_endpoint(request: Request) -> Response:
        try:
            params = await request_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        return await logout(request, params)

    return router
