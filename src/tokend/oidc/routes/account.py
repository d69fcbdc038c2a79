"""Account self-service pages: forgot/reset password and email verification.

Forms use a double-submit CSRF token (a ``SameSite=Strict`` cookie echoed in the form). The
answer to "send me a link" never says whether the address has an account.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.crypto import random_secret
from tokend.core.errors import RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.oidc.email_links import LinkKind
from tokend.oidc.routes.html import Pages
from tokend.oidc.self_service import SelfService

CSRF_COOKIE = "tokend_csrf"
SENT = "If an account exists for that address, we have sent it a link. Check your inbox."
BAD_LINK = "This link is not valid any more. Ask for a new one."
MIN_PASSWORD = 8


def account_router(get: Callable[[], SelfService], pages: Pages, secure_cookies: bool) -> APIRouter:
    router = APIRouter(tags=["oidc pages"], include_in_schema=False)

    def form_page(status: int = 200, error: str | None = None, **context: object) -> Response:
        csrf = random_secret(16)
        response = pages.render("account.html", status, csrf_token=csrf, error=error, **context)
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=3600, path="/", httponly=True, samesite="strict",
            secure=secure_cookies,
        )  # fmt: skip
        return response

    async def checked(request: Request) -> Params | Response:
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        presented = form.get("csrf_token") or ""
        if not cookie or not hmac.compare_digest(cookie.encode(), presented.encode()):
            return pages.error("The form could not be verified. Go back and try again.", 403)
        return form

    def ask_email(kind: LinkKind, status: int = 200, error: str | None = None) -> Response:
        reset = kind is LinkKind.RESET
        return form_page(
            status, error,
            title="Reset your password" if reset else "Verify your email",
            lead="We will email you a link." if reset else "We will email you a confirmation link.",
            action="/password/forgot" if reset else "/email/verify",
            field="email", label="Email address", input_type="email", autocomplete="username",
            button="Send link", token=None,
        )  # fmt: skip

    async def send_link(request: Request, kind: LinkKind) -> Response:
        self_service = get()
        form = await checked(request)
        if isinstance(form, Response):
            return form
        email = (form.get("email") or "").strip()[:320]
        if "@" not in email:
            return ask_email(kind, 400, "Enter your email address.")
        try:
            await self_service.send_link(kind, email)
        except RateLimited as exc:
            response = ask_email(kind, 429, exc.description)
            response.headers.update(exc.headers)
            return response
        return pages.render("message.html", title="Check your inbox", message=SENT)

    @router.get("/password/forgot")
    async def forgot_form() -> Response:
        return ask_email(LinkKind.RESET)

    @router.post("/password/forgot")
    async def forgot(request: Request) -> Response:
        return await send_link(request, LinkKind.RESET)

    @router.get("/email/verify")
    async def verify_form() -> Response:
        return ask_email(LinkKind.VERIFY)

    @router.post("/email/verify")
    async def verify(request: Request) -> Response:
        return await send_link(request, LinkKind.VERIFY)

    def new_password_page(token: str, status: int = 200, error: str | None = None) -> Response:
        return form_page(
            status, error,
            title="Choose a new password", lead="At least 8 characters.",
            action="/password/reset", field="password", label="New password",
            input_type="password", autocomplete="new-password", button="Change password",
            token=token,
        )  # fmt: skip

    @router.get("/password/reset")
    async def reset_form(request: Request) -> Response:
        token = request.query_params.get("token", "")
        if not await get().is_live_link(LinkKind.RESET, token):
            return pages.error(BAD_LINK, title="Link expired")
        return new_password_page(token)

    @router.post("/password/reset")
    async def reset(request: Request) -> Response:
        self_service = get()
        form = await checked(request)
        if isinstance(form, Response):
            return form
        token, password = form.get("token") or "", form.get("password") or ""
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            if not await self_service.is_live_link(LinkKind.RESET, token):
                return pages.error(BAD_LINK, title="Link expired")
            return new_password_page(token, 400, "Use at least 8 characters.")
        if not await self_service.reset_password(token, password):
            return pages.error(BAD_LINK, title="Link expired")
        return pages.render(
            "message.html", title="Password changed", message="You can sign in with it now."
        )

    @router.get("/email/verify/confirm")
    async def confirm(request: Request) -> Response:
        token = request.query_params.get("token", "")
        if not await get().verify_email(token):
            return pages.error(BAD_LINK, title="Link expired")
        return pages.render(
            "message.html", title="Email verified", message="Thank you, your address is confirmed."
        )

    return router
