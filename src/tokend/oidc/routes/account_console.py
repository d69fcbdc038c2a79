"""``/account``: the signed-in user's own pages: profile, security (password, two-step
verification, recovery codes), sessions, and apps with access.

Every page needs the browser's session; without one, ``/account/sign-in`` runs the provider's
own login (and second-factor) steps and comes back. Every form carries a CSRF token derived
from the session cookie (``Accounts.csrf_token``); every change answers with a redirect back
to its page (POST/redirect/GET), except those whose answer is shown once (new recovery codes,
the QR code of a new authenticator).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.errors import Conflict, RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.core.routing import api_router
from tokend.oidc.accounts import Accounts, SignedInUser
from tokend.oidc.passkeys import PasskeyRejected, script_json
from tokend.oidc.password_policy import PASSWORD_RULE, is_acceptable_password
from tokend.oidc.routes.account import BAD_LINK, EMAIL
from tokend.oidc.routes.authorize import INTERACTION_COOKIE, SESSION_COOKIE
from tokend.oidc.routes.html import Pages
from tokend.oidc.routes.interaction import SCOPE_TEXT, set_session_cookie
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.settings import OidcSettings

NOTICES = {
    "profile": "Your profile was saved.",
    "email-sent": (
        "We have sent a link to the new address. Your email address changes once you open it."
    ),
    "password": "Your password was changed. Your other sessions were signed out.",
    "totp-removed": "Two-step verification is off.",
    "passkey-added": "Your passkey was added. You can sign in with it now.",
    "passkey-removed": "The passkey was removed.",
    "session-ended": "The session was signed out.",
    "others-ended": "Every other session was signed out.",
    "access-removed": "The app's access was removed. It must ask you again.",
}
SECTIONS = ("profile", "security", "sessions", "apps")


def account_console_router(
    get: Callable[[], Accounts], pages: Pages, config: OidcSettings, secure_cookies: bool
) -> APIRouter:
    router = api_router(tags=["oidc pages"], include_in_schema=False)

    def page(
        signed: SignedInUser,
        section: str,
        status: int = 200,
        *,
        script: bool = False,
        **context: object,
    ) -> Response:
        # Only a page that runs a passkey ceremony loads (and its CSP allows) the script.
        render = pages.render_scripted if script else pages.render
        return render(
            "account_console.html",
            status,
            section=section,
            user=signed.user,
            csrf_token=get().csrf_token(signed),
            **context,
        )

    def back(section: str, notice: str) -> Response:
        path = "/account" if section == "profile" else f"/account/{section}"
        return RedirectResponse(f"{path}?done={quote(notice)}", status_code=303)

    async def signed_in(request: Request) -> SignedInUser | None:
        return await get().signed_in(request.cookies.get(SESSION_COOKIE))

    def to_sign_in() -> Response:
        return RedirectResponse("/account/sign-in", status_code=303)

    async def checked(request: Request) -> tuple[SignedInUser, Params] | Response:
        """The signed-in user and the form, once its CSRF token matched; else the answer."""
        signed = await signed_in(request)
        if signed is None:
            return to_sign_in()
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        if not get().csrf_matches(signed, form.get("csrf_token")):
            return pages.error(
                "The form could not be verified. Go back and try again.",
                status=403,
                title="Request not accepted",
            )
        return signed, form

    def notice_of(request: Request) -> str | None:
        return NOTICES.get(request.query_params.get("done", ""))

    def set_session(response: Response, cookie: str) -> None:
        set_session_cookie(response, cookie, config, secure_cookies)

    # --- signing in and out -------------------------------------------------------------

    @router.get("/account/sign-in")
    async def sign_in(request: Request) -> Response:
        if await signed_in(request) is not None:
            return RedirectResponse("/account", status_code=303)
        try:
            ia = await get().start_sign_in(client_ip(request))
        except RateLimited as exc:
            refused = pages.error(exc.description, 429, "Too many sign-in requests")
            refused.headers.update(exc.headers)
            return refused
        response = RedirectResponse(f"/interaction/{ia.uid}", status_code=303)
        response.set_cookie(
            INTERACTION_COOKIE, ia.uid, max_age=config.interaction_ttl_s, path="/interaction",
            httponly=True, samesite="lax", secure=secure_cookies,
        )  # fmt: skip
        return response

    @router.post("/account/sign-out")
    async def sign_out(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        await get().end_session(signed.user.id, signed.session.sid, by="user")
        response = pages.render(
            "message.html", title="Signed out", message="You are signed out of your account."
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- profile ------------------------------------------------------------------------

    @router.get("/account")
    async def profile(request: Request) -> Response:
        signed = await signed_in(request)
        if signed is None:
            return to_sign_in()
        return page(signed, "profile", notice=notice_of(request))

    @router.post("/account/profile")
    async def save_profile(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        fields = {
            name: (form.get(name) or "").strip()[:limit]
            for name, limit in (("name", 200), ("given_name", 200), ("family_name", 200),
                                ("locale", 35))
        }  # fmt: skip
        await get().update_profile(signed.user, **fields)
        return back("profile", "profile")

    @router.post("/account/email")
    async def change_email(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        new_email = (form.get("email") or "").strip()[:320]
        if not EMAIL.fullmatch(new_email):
            return page(signed, "profile", 400, error="Enter the new email address.")
        # OWASP Authentication Cheat Sheet: re-authenticate before changing the address that
        # resets the password; whoever found the browser signed in cannot move the account.
        password = form.get("password") or ""
        try:
            asked = await get().email_changes.request(signed.user, password, new_email)
        except RateLimited as exc:
            refused = page(signed, "profile", 429, error=exc.description)
            refused.headers.update(exc.headers)
            return refused
        except Conflict as exc:
            return page(signed, "profile", 409, error=exc.description)
        if not asked:
            return page(signed, "profile", 400, error="Your password is not correct.")
        return back("profile", "email-sent")

    @router.get("/account/email/confirm")
    async def confirm_email(request: Request) -> Response:
        # The link may be opened in another browser: it needs no session, only itself.
        try:
            changed = await get().email_changes.confirm(request.query_params.get("token", ""))
        except Conflict as exc:
            return pages.error(exc.description, 409, "Email not changed")
        if changed is None:
            return pages.error(BAD_LINK, title="Link expired")
        return pages.render(
            "message.html", title="Email address changed",
            message=f"Your email address is now {changed.email}. Sign in with it from now on.",
        )  # fmt: skip

    # --- security: password, two-step verification, recovery codes ---------------------

    async def security_page(signed: SignedInUser, status: int = 200, **context: object) -> Response:
        accounts = get()
        status_now = await accounts.factors.status(signed.user.id)
        enrolment = None
        if not status_now.totp:
            enrolment = await accounts.factors.pending_enrolment(signed.user)
        passkeys = await accounts.passkeys.of_user(signed.user.id)
        return page(
            signed, "security", status, factors=status_now, enrolment=enrolment,
            passkeys=passkeys, script="passkey_options" in context, **context,
        )  # fmt: skip

    @router.get("/account/security")
    async def security(request: Request) -> Response:
        signed = await signed_in(request)
        if signed is None:
            return to_sign_in()
        return await security_page(signed, notice=notice_of(request))

    @router.post("/account/password")
    async def change_password(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        current, new = form.get("current_password") or "", form.get("new_password") or ""
        accounts = get()
        # Re-authentication: whoever found the browser signed in cannot change it.
        if not await accounts.password_matches(signed.user, current):
            return await security_page(signed, 400, error="Your current password is not correct.")
        if not is_acceptable_password(new):
            return await security_page(signed, 400, error=PASSWORD_RULE)
        device = request.headers.get("user-agent", "")
        cookie = await accounts.change_password(signed.user, new, device, client_ip(request))
        response = back("security", "password")
        set_session(response, cookie)
        return response

    @router.post("/account/totp/start")
    async def totp_start(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        try:
            await get().factors.begin_totp(signed.user)
        except Conflict as exc:
            return await security_page(signed, 409, error=exc.description)
        return RedirectResponse("/account/security#totp", status_code=303)

    @router.post("/account/totp/confirm")
    async def totp_confirm(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        code = (form.get("code") or "").strip()[:64]
        try:
            codes = await get().factors.confirm_totp(signed.user.id, code, client_ip(request))
        except RateLimited as exc:
            response = await security_page(signed, 429, error=exc.description)
            response.headers.update(exc.headers)
            return response
        if codes is None:
            return await security_page(
                signed, 400, error="That code is not correct. Try the code shown now."
            )
        return await security_page(signed, recovery_codes=codes)

    @router.post("/account/totp/remove")
    async def totp_remove(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        accounts = get()
        if not await accounts.password_matches(signed.user, form.get("password") or ""):
            return await security_page(signed, 400, error="Your password is not correct.")
        await accounts.factors.remove(signed.user.id, reason="user")
        return back("security", "totp-removed")

    @router.post("/account/recovery-codes")
    async def recovery_codes(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        accounts = get()
        if not await accounts.password_matches(signed.user, form.get("password") or ""):
            return await security_page(signed, 400, error="Your password is not correct.")
        if not (await accounts.factors.status(signed.user.id)).totp:
            return await security_page(signed, 409, error="Turn on two-step verification first.")
        codes = await accounts.factors.new_recovery_codes(signed.user.id)
        return await security_page(signed, recovery_codes=codes)

    @router.post("/account/passkeys/new")
    async def passkey_new(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        ceremony, ceremony_id = await get().start_passkey_registration(signed)
        return await security_page(
            signed, passkey_options=script_json(ceremony.options_json), ceremony=ceremony_id
        )

    @router.post("/account/passkeys")
    async def passkey_add(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        name = (form.get("name") or "").strip()[:100]
        try:
            await get().finish_passkey_registration(
                signed, form.get("ceremony") or "", form.get("credential") or "", name
            )
        except PasskeyRejected:
            return await security_page(
                signed, 400, error="The passkey could not be added. Try again."
            )
        except Conflict:
            return await security_page(signed, 409, error="That passkey is added already.")
        return back("security", "passkey-added")

    @router.post("/account/passkeys/remove")
    async def passkey_remove(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        await get().passkeys.remove(signed.user.id, form.get("credential_id") or "")
        return back("security", "passkey-removed")

    # --- sessions -----------------------------------------------------------------------

    @router.get("/account/sessions")
    async def sessions(request: Request) -> Response:
        signed = await signed_in(request)
        if signed is None:
            return to_sign_in()
        listed = await get().sessions_of(signed.user.id)
        return page(
            signed, "sessions", sessions=listed, current_sid=signed.session.sid,
            notice=notice_of(request),
        )  # fmt: skip

    @router.post("/account/sessions/end")
    async def end_session(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        await get().end_session(signed.user.id, (form.get("sid") or "")[:40], by="user")
        return back("sessions", "session-ended")

    @router.post("/account/sessions/end-others")
    async def end_others(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, _ = answer
        await get().end_other_sessions(signed.user.id, signed.session.sid, by="user")
        return back("sessions", "others-ended")

    # --- apps with access ---------------------------------------------------------------

    @router.get("/account/apps")
    async def apps(request: Request) -> Response:
        signed = await signed_in(request)
        if signed is None:
            return to_sign_in()
        listed = await get().apps_of(signed.user.id)
        return page(signed, "apps", apps=listed, scope_text=SCOPE_TEXT, notice=notice_of(request))

    @router.post("/account/apps/revoke")
    async def revoke_app(request: Request) -> Response:
        answer = await checked(request)
        if isinstance(answer, Response):
            return answer
        signed, form = answer
        client_id = (form.get("client_id") or "")[:64]
        await get().withdraw_access(signed.user.id, client_id, by="user")
        return back("apps", "access-removed")

    return router
