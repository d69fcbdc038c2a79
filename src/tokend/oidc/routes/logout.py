"""``/logout``: OpenID Connect RP-Initiated Logout 1.0 (GET and POST), and its confirmation
(``/logout/confirm``); the rules are in ``oidc.end_session``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.errors import TokendError
from tokend.core.forms import Params, form_params, request_params
from tokend.core.routing import api_router
from tokend.oidc.account_chooser import ACCOUNTS_COOKIE, forgotten
from tokend.oidc.end_session import EndSession, LogoutRefused, LogoutRequest, must_confirm
from tokend.oidc.routes.authorize import SESSION_COOKIE, client_redirect
from tokend.oidc.routes.html import Pages


def logout_router(
    get: Callable[[], EndSession], pages: Pages, secure_cookies: bool, session_ttl_s: int
) -> APIRouter:
    # Browser endpoints answer with pages and redirects, not JSON: kept out of the API schema.
    router = api_router(tags=["oidc"], include_in_schema=False)

    async def logout(request: Request, params: Params) -> Response:
        end_session = get()
        try:
            wanted = await end_session.request(
                params.get("client_id"),
                params.get("id_token_hint"),
                params.get("post_logout_redirect_uri"),
                params.get("state"),
            )
        except LogoutRefused as exc:
            return pages.error(str(exc), title="Sign-out failed")
        signed_in = await end_session.signed_in(request.cookies.get(SESSION_COOKIE))
        if signed_in is not None and must_confirm(wanted, signed_in):
            confirmation = await end_session.confirmation(wanted, signed_in)
            return pages.render(
                "logout.html",
                csrf_token=confirmation.csrf_token,
                client_name=confirmation.client_name,
                email=confirmation.email,
                client_id=wanted.client_id,
                target=wanted.target,
                state=wanted.state,
            )
        await end_session.end(wanted, signed_in)
        return ended(wanted, request)

    @router.api_route(
        "/logout", methods=["GET", "POST"], summary="End session (OIDC RP-Initiated Logout)"
    )
    async def logout_endpoint(request: Request) -> Response:
        try:
            params = await request_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        return await logout(request, params)

    @router.post("/logout/confirm")
    async def confirm(request: Request) -> Response:
        end_session = get()
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        signed_in = await end_session.signed_in(request.cookies.get(SESSION_COOKIE))
        if signed_in is None:
            return signed_out_page()
        if not end_session.confirmed(signed_in, form.get("csrf_token") or ""):
            return pages.error(
                "The form could not be verified. Go back and try again.",
                status=403,
                title="Request not accepted",
            )
        if form.get("decision") != "logout":
            return pages.render(
                "message.html", title="You are still signed in", message="Nothing changed."
            )
        try:
            # The form repeats what /logout checked; checked again, the browser may edit it.
            # No ID token here: the user's confirmation is what this request stands on.
            wanted = await end_session.request(
                form.get("client_id"),
                None,
                form.get("post_logout_redirect_uri"),
                form.get("state"),
            )
        except LogoutRefused as exc:
            return pages.error(str(exc), title="Sign-out failed")
        await end_session.end(wanted, signed_in)
        return ended(wanted, request)

    def ended(wanted: LogoutRequest, request: Request) -> Response:
        if wanted.target is not None:
            response: Response = client_redirect(wanted.target, {"state": wanted.state})
        else:
            response = signed_out_page()
        response.delete_cookie(
            SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies
        )
        # The session that ended leaves the browser's accounts; the others stay signed in
        # (the account chooser lists them) until they sign out too.
        others = forgotten(
            request.cookies.get(SESSION_COOKIE), request.cookies.get(ACCOUNTS_COOKIE)
        )
        if others:
            response.set_cookie(
                ACCOUNTS_COOKIE, others, max_age=session_ttl_s, path="/", httponly=True,
                samesite="lax", secure=secure_cookies,
            )  # fmt: skip
        else:
            response.delete_cookie(
                ACCOUNTS_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookies
            )
        return response

    def signed_out_page() -> Response:
        return pages.render(
            "message.html", title="You are signed out", message="You can close this window."
        )

    return router
