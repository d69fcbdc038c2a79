"""Browser login: ``/login``, ``/callback``, ``/logout``, ``/auth/refresh``."""

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.surfaces import surface_router
from tokend.guard.envelope import envelope, envelope_surface
from tokend.guard.errors import LoginFailed, NotAuthenticated, RefreshTokenError, bearer_challenge
from tokend.guard.login import OidcLogin, new_login
from tokend.guard.sessions import LOGIN_TTL_S, SessionStore
from tokend.guard.settings import GuardSettings

LOGIN_COOKIE = "tokend_login"
_OAUTH_ERROR = re.compile(r"^[a-z_]{1,64}$")
_LOCAL_PATH = re.compile(r"^/(?![/\\])[\x21-\x7e]*$")


def login_router(
    oidc: OidcLogin,
    sessions: SessionStore,
    config: GuardSettings,
    *,
    version: str,
    now: Callable[[], datetime],
) -> APIRouter:
    router = surface_router(envelope_surface(version), tags=["guard-login"])
    cookie = config.session_cookie

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            secure=config.cookie_secure,
            samesite="lax",
        )

    @router.get("/login")
    async def login(
        return_to: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Response:
        # Only a path on this server: never an open redirect (RFC 9700 §4.11).
        target = return_to if return_to and _LOCAL_PATH.match(return_to) else None
        state = new_login(target or config.post_login_path)
        url = await oidc.authorization_url(state)
        login_id = await sessions.begin_login(state)
        response = RedirectResponse(url, 302, headers=NO_STORE)
        set_cookie(response, LOGIN_COOKIE, login_id, LOGIN_TTL_S)
        return response

    @router.get("/callback")
    async def callback(
        request: Request,
        code: Annotated[str | None, Query(max_length=4096)] = None,
        state: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=256)] = None,
    ) -> Response:
        if error is not None:
            shown = error if _OAUTH_ERROR.match(error) else "invalid_response"
            raise LoginFailed(f"OAuth error: {shown}")
        login_id = request.cookies.get(LOGIN_COOKIE)
        if not state or not login_id:
            raise LoginFailed("Invalid state parameter (CSRF protection)")
        pending = await sessions.finish_login(login_id)
        if pending is None:
            raise LoginFailed("Invalid state parameter (CSRF protection)")
        if not code:
            raise LoginFailed("No authorization code received")
        data = await oidc.finish(pending, state, code)
        # Session fixation: a login always gets a new id, and the old session ends.
        old = request.cookies.get(cookie)
        if old:
            await sessions.delete(old)
        session_id = await sessions.create(data)
        response = RedirectResponse(pending.return_to, 302, headers=NO_STORE)
        set_cookie(response, cookie, session_id, sessions.ttl_s)
        response.delete_cookie(
            LOGIN_COOKIE, path="/", secure=config.cookie_secure, httponly=True, samesite="lax"
        )
        return response

    @router.api_route("/logout", methods=["GET", "POST"])
    async def logout(request: Request) -> Response:
        session_id = request.cookies.get(cookie)
        data = await sessions.get(session_id) if session_id else None
        if session_id:
            await sessions.delete(session_id)
        target = await oidc.end_session_url(data, config.post_logout_redirect_uri)
        response = RedirectResponse(target or config.post_logout_redirect_uri or "/", 302)
        response.delete_cookie(
            cookie, path="/", secure=config.cookie_secure, httponly=True, samesite="lax"
        )
        return response

    @router.post("/auth/refresh")
    async def refresh(request: Request) -> Response:
        session_id = request.cookies.get(cookie)
        data = await sessions.get(session_id) if session_id else None
        if session_id is None or data is None:
            raise NotAuthenticated(headers=bearer_challenge(config.realm))
        try:
            fresh = await oidc.refresh(data)
        except RefreshTokenError as exc:
            # The grant is gone upstream: the session goes with it.
            await sessions.delete(session_id)
            exc.headers = {
                "Set-Cookie": f"{cookie}=; Max-Age=0; Path=/; HttpOnly; SameSite=lax"
                + ("; Secure" if config.cookie_secure else "")
            }
            raise
        await sessions.save(session_id, fresh)
        expires_in = max(0, int(fresh.expires_at - now().timestamp()))
        return envelope(
            request,
            {"token_type": "Bearer", "expires_in": expires_in},
            "Token refreshed",
            version=version,
            now=now(),
        )

    return router
