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
from tokend.oidc.audit import AuditEvent
from tokend.oidc.email_links import SEND_EMAIL_JOB, LinkKind
from tokend.oidc.grants.user_tokens import revoke_user_grants
from tokend.oidc.provider import Provider
from tokend.oidc.routes.authorize import cookie_is_secure
from tokend.oidc.routes.form import Params, form_params
from tokend.oidc.routes.html import Pages

CSRF_COOKIE = "tokend_csrf"
SENT = "If an account exists for that address, we have sent it a link. Check your inbox."
BAD_LINK = "This link is not valid any more. Ask for a new one."
MIN_PASSWORD = 8


def account_router(get: Callable[[], Provider], pages: Pages) -> APIRouter:
    router = APIRouter(tags=["oidc pages"], include_in_schema=False)

    def form_page(
        provider: Provider, status: int = 200, error: str | None = None, **context: object
    ) -> Response:
        csrf = random_secret(16)
        response = pages.render("account.html", status, csrf_token=csrf, error=error, **context)
        response.set_cookie(
            CSRF_COOKIE, csrf, max_age=3600, path="/", httponly=True, samesite="strict",
            secure=cookie_is_secure(provider.issuer),
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

    def ask_email(provider: Provider, kind: LinkKind, status: int = 200,
                  error: str | None = None) -> Response:  # fmt: skip
        reset = kind is LinkKind.RESET
        return form_page(
            provider, status, error,
            title="Reset your password" if reset else "Verify your email",
            lead="We will email you a link." if reset else "We will email you a confirmation link.",
            action="/password/forgot" if reset else "/email/verify",
            field="email", label="Email address", input_type="email", autocomplete="username",
            button="Send link", token=None,
        )  # fmt: skip

    async def send_link(request: Request, kind: LinkKind) -> Response:
        provider = get()
        form = await checked(request)
        if isinstance(form, Response):
            return form
        email = (form.get("email") or "").strip()[:320]
        if "@" not in email:
            return ask_email(provider, kind, 400, "Enter your email address.")
        try:
            await provider.limits.hit("password_reset_per_account", f"{kind}:{email.lower()}")
        except RateLimited as exc:
            response = ask_email(provider, kind, 429, exc.description)
            response.headers.update(exc.headers)
            return response
        user = await provider.users.by_email(email)
        if user is not None and not user.disabled:
            await provider.jobs.enqueue(SEND_EMAIL_JOB, kind=kind.value, user_id=user.id)
            if kind is LinkKind.RESET:
                provider.audit.record(AuditEvent.PASSWORD_RESET_REQUESTED, user_id=user.id)
        return pages.render("message.html", title="Check your inbox", message=SENT)

    @router.get("/password/forgot")
    async def forgot_form() -> Response:
        return ask_email(get(), LinkKind.RESET)

    @router.post("/password/forgot")
    async def forgot(request: Request) -> Response:
        return await send_link(request, LinkKind.RESET)

    @router.get("/email/verify")
    async def verify_form() -> Response:
        return ask_email(get(), LinkKind.VERIFY)

    @router.post("/email/verify")
    async def verify(request: Request) -> Response:
        return await send_link(request, LinkKind.VERIFY)

    def new_password_page(provider: Provider, token: str, status: int = 200,
                          error: str | None = None) -> Response:  # fmt: skip
        return form_page(
            provider, status, error,
            title="Choose a new password", lead="At least 8 characters.",
            action="/password/reset", field="password", label="New password",
            input_type="password", autocomplete="new-password", button="Change password",
            token=token,
        )  # fmt: skip

    @router.get("/password/reset")
    async def reset_form(request: Request) -> Response:
        provider = get()
        token = request.query_params.get("token", "")
        if await provider.email_links.peek(LinkKind.RESET, token) is None:
            return pages.error(BAD_LINK, title="Link expired")
        return new_password_page(provider, token)

    @router.post("/password/reset")
    async def reset(request: Request) -> Response:
        provider = get()
        form = await checked(request)
        if isinstance(form, Response):
            return form
        token, password = form.get("token") or "", form.get("password") or ""
        if len(password) < MIN_PASSWORD or len(password) > 1024:
            if await provider.email_links.peek(LinkKind.RESET, token) is None:
                return pages.error(BAD_LINK, title="Link expired")
            return new_password_page(provider, token, 400, "Use at least 8 characters.")
        user_id = await provider.email_links.use(LinkKind.RESET, token)
        user = await provider.users.by_id(user_id) if user_id else None
        if user is None:
            return pages.error(BAD_LINK, title="Link expired")
        await provider.users.set_password(user.id, await provider.passwords.hash(password))
        await provider.email_links.forget(LinkKind.RESET, user.id)  # any other reset link too
        revoked = await revoke_user_grants(provider.grant_deps, user.id)
        provider.audit.record(
            AuditEvent.GRANTS_REVOKED, user_id=user.id, reason="password_reset", grants=revoked
        )
        return pages.render(
            "message.html", title="Password changed", message="You can sign in with it now."
        )

    @router.get("/email/verify/confirm")
    async def confirm(request: Request) -> Response:
        provider = get()
        token = request.query_params.get("token", "")
        user_id = await provider.email_links.use(LinkKind.VERIFY, token)
        if user_id is None or not await provider.users.mark_verified(user_id):
            return pages.error(BAD_LINK, title="Link expired")
        provider.audit.record(AuditEvent.EMAIL_VERIFIED, user_id=user_id)
        return pages.render(
            "message.html", title="Email verified", message="Thank you, your address is confirmed."
        )

    return router
