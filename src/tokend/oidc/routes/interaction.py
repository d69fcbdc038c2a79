"""The login and consent pages of an interaction (``/interaction/{uid}``).

Forms are CSRF-protected twice: the interaction cookie must name this interaction, and the
form must carry the interaction's own random token (synchronizer token pattern).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.errors import RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.interactions import Interaction
from tokend.oidc.routes.authorize import INTERACTION_COOKIE, SESSION_COOKIE, Outcomes
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.settings import OidcSettings
from tokend.oidc.sign_in import SignIn

SCOPE_TEXT = {
    "openid": "Know who you are (your account identifier)",
    "profile": "See your name, picture and language",
    "email": "See your email address",
    "address": "See your postal address",
    "phone": "See your phone number",
    "offline_access": "Stay connected when you are not using it",
}
BAD_LOGIN = "The email address or password is not correct."
EXPIRED = "This sign-in request has expired or was opened in another window. Start again."
UidPath = Path(pattern=r"^[a-z2-7]{24}$")


def interaction_router(
    flow: Callable[[], AuthorizationFlow],
    sign_in: Callable[[], SignIn],
    outcomes: Outcomes,
    config: OidcSettings,
) -> APIRouter:
    router = APIRouter(tags=["oidc pages"], include_in_schema=False)
    pages = outcomes.pages

    async def load(uid: str, request: Request) -> Interaction | None:
        if request.cookies.get(INTERACTION_COOKIE) != uid:
            return None
        return await flow().interaction(uid)

    async def login_page(
        ia: Interaction, error: str | None = None, email: str = "", status: int = 200
    ) -> Response:
        return pages.render(
            "login.html",
            status,
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            error=error,
            email=email or ia.login_hint or "",
        )

    @router.get("/interaction/{uid}")
    async def show(request: Request, uid: str = UidPath) -> Response:
        ia = await load(uid, request)
        if ia is None:
            return pages.error(EXPIRED, title="Sign-in expired")
        user = await flow().user_to_ask(ia, request.cookies.get(SESSION_COOKIE))
        if user is None:
            return await login_page(ia)
        return pages.render(
            "consent.html",
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            email=user.email,
            scopes=[SCOPE_TEXT.get(s, s) for s in sorted(ia.scopes, key=_scope_order)],
        )

    async def checked_form(uid: str, request: Request) -> tuple[Interaction, Params] | Response:
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        ia = await load(uid, request)
        if ia is None:
            return pages.error(EXPIRED, status=403, title="Sign-in expired")
        if not ia.csrf_matches(form.get("csrf_token")):
            return pages.error(
                "The form could not be verified. Go back and try again.",
                status=403,
                title="Request not accepted",
            )
        return ia, form

    @router.post("/interaction/{uid}/login")
    async def login(request: Request, uid: str = UidPath) -> Response:
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        email = (form.get("email") or "").strip()[:320]
        password = form.get("password") or ""
        if not email or not password:
            return await login_page(ia, "Enter your email address and password.", email, 400)
        try:
            signed_in = await sign_in().sign_in(ia, email, password, client_ip(request))
        except RateLimited as exc:
            response = await login_page(ia, exc.description, email, 429)
            response.headers.update(exc.headers)
            return response
        if signed_in is None:
            return await login_page(ia, BAD_LOGIN, email, 400)
        outcome = await flow().resume(signed_in.interaction, request.cookies.get(SESSION_COOKIE))
        response = outcomes.render(outcome)
        response.set_cookie(
            SESSION_COOKIE,
            signed_in.session_cookie,
            max_age=config.session_ttl_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=outcomes.secure,
        )
        return response

    @router.post("/interaction/{uid}/consent")
    async def consent(request: Request, uid: str = UidPath) -> Response:
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        allow = form.get("decision") == "allow"
        outcome = await flow().consent(ia, request.cookies.get(SESSION_COOKIE), allow)
        if outcome is None:
            return await login_page(ia)
        return outcomes.render(outcome)

    return router


def _scope_order(scope: str) -> tuple[int, str]:
    order = list(SCOPE_TEXT)
    return (order.index(scope) if scope in order else len(order), scope)
