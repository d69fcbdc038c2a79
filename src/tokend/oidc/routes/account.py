"""Account self-service pages: forgot/reset password, email verification and, when it is on,
self sign-up (``/sign-up``; off, the route does not exist: 404).

Forms use a double-submit CSRF token (a ``SameSite=Strict`` cookie echoed in the form). The
answer to "send me a link" never says whether the address has an account.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.crypto import random_secret
from tokend.core.errors import RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.core.routing import api_router
from tokend.oidc.email_links import LinkKind
from tokend.oidc.password_policy import PASSWORD_RULE, is_acceptable_password
from tokend.oidc.routes.html import Pages
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.self_service import SelfService
from tokend.oidc.sign_up import SignUp

CSRF_COOKIE = "tokend_csrf"
SENT = "If an account exists for that address, we have sent it a link. Check your inbox."
BAD_LINK = "This link is not valid any more. Ask for a new one."
#: The same answer whether the address was new or had an account (no account enumeration).
SIGNED_UP: Final = (
    "We have sent a mail to that address. Open the link in it to confirm your address, "
    "then sign in."
)
EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+$")
#: An interaction's uid (``random_id``): the only place a sign-up page sends the browser back to.
INTERACTION_UID: Final = re.compile(r"^[a-z2-7]{24}$")


def account_router(
    get: Callable[[], SelfService],
    pages: Pages,
    secure_cookies: bool,
    sign_up: Callable[[], SignUp] | None = None,
) -> APIRouter:
    """``sign_up``: serve ``/sign-up`` with it (None: self sign-up is off)."""
    router = api_router(tags=["oidc pages"], include_in_schema=False)

    def form_page(
        status: int = 200,
        error: str | None = None,
        template: str = "account.html",
        **context: object,
    ) -> Response:
        csrf = random_secret(16)
        response = pages.render(template, status, csrf_token=csrf, error=error, **context)
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
        if not is_acceptable_password(password):
            if not await self_service.is_live_link(LinkKind.RESET, token):
                return pages.error(BAD_LINK, title="Link expired")
            return new_password_page(token, 400, PASSWORD_RULE)
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

    if sign_up is not None:
        _sign_up_routes(router, sign_up, form_page, checked, pages)
    return router


def _sign_up_routes(
    router: APIRouter,
    get: Callable[[], SignUp],
    form_page: Callable[..., Response],
    checked: Callable[[Request], Awaitable[Params | Response]],
    pages: Pages,
) -> None:
    def interaction_of(value: str | None) -> str | None:
        # Only an interaction uid: never a URL the form could send the browser on to.
        return value if value and INTERACTION_UID.fullmatch(value) else None

    def sign_up_page(
        status: int = 200,
        error: str | None = None,
        email: str = "",
        name: str = "",
        interaction: str | None = None,
    ) -> Response:
        return form_page(
            status, error, "sign_up.html", email=email, full_name=name, interaction=interaction
        )

    @router.get("/sign-up")
    async def sign_up_form(request: Request) -> Response:
        return sign_up_page(interaction=interaction_of(request.query_params.get("interaction")))

    @router.post("/sign-up")
    async def create_account(request: Request) -> Response:
        form = await checked(request)
        if isinstance(form, Response):
            return form
        email = (form.get("email") or "").strip()[:320]
        name = (form.get("name") or "").strip()[:200]
        password = form.get("password") or ""
        interaction = interaction_of(form.get("interaction"))
        if not EMAIL.fullmatch(email):
            return sign_up_page(400, "Enter your email address.", email, name, interaction)
        # NIST SP 800-63B §5.1.1.2, the rule every new password meets (``password_policy``).
        if not is_acceptable_password(password):
            return sign_up_page(400, PASSWORD_RULE, email, name, interaction)
        try:
            await get().sign_up(email, name, password, client_ip(request))
        except RateLimited as exc:
            refused = sign_up_page(429, exc.description, email, name, interaction)
            refused.headers.update(exc.headers)
            return refused
        link = f"/interaction/{interaction}" if interaction else None
        return pages.render(
            "message.html", title="Check your inbox", message=SIGNED_UP, link=link,
            link_text="Then continue signing in",
        )  # fmt: skip
