"""The login and consent pages of an interaction (``/interaction/{uid}``).

Forms are CSRF-protected twice: the interaction cookie must name this interaction, and the
form must carry the interaction's own random token (synchronizer token pattern).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.crypto import random_secret
from tokend.core.errors import AccessDenied, RateLimited, TokendError
from tokend.oidc.audit import AuditEvent
from tokend.oidc.interactions import Interaction
from tokend.oidc.login_throttle import LoginThrottle
from tokend.oidc.provider import Provider
from tokend.oidc.rate_limits import client_ip
from tokend.oidc.records import Session, User
from tokend.oidc.routes.authorize import (
    INTERACTION_COOKIE,
    SESSION_COOKIE,
    cookie_is_secure,
    current_session,
    error_redirect,
    needs_login,
    provider_finish,
    resume,
)
from tokend.oidc.routes.form import Params, form_params
from tokend.oidc.routes.html import Pages

SCOPE_TEXT = {
    "openid": "Know who you are (your account identifier)",
    "profile": "See your name, picture and language",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using it",
}
BAD_LOGIN = "The email address or password is not correct."
EXPIRED = "This sign-in request has expired or was opened in another window. Start again."
UidPath = Path(pattern=r"^[a-z2-7]{24}$")


def interaction_router(get: Callable[[], Provider], pages: Pages) -> APIRouter:
    router = APIRouter(tags=["oidc pages"], include_in_schema=False)

    async def load(provider: Provider, uid: str, request: Request) -> Interaction | None:
        if request.cookies.get(INTERACTION_COOKIE) != uid:
            return None
        return await provider.interactions.load(uid)

    async def client_name(provider: Provider, ia: Interaction) -> str:
        client = await provider.clients.get(ia.client_id)
        return client.name if client is not None else ia.client_id

    async def login_page(
        provider: Provider, ia: Interaction, error: str | None = None, email: str = "",
        status: int = 200,
    ) -> Response:  # fmt: skip
        return pages.render(
            "login.html",
            status,
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await client_name(provider, ia),
            error=error,
            email=email or ia.login_hint or "",
        )

    @router.get("/interaction/{uid}")
    async def show(request: Request, uid: str = UidPath) -> Response:
        provider = get()
        ia = await load(provider, uid, request)
        if ia is None:
            return pages.error(EXPIRED, title="Sign-in expired")
        session = await current_session(provider, request)
        if needs_login(ia, session, provider.clock.now()):
            return await login_page(provider, ia)
        user_id = ia.user_id or (session.user_id if session else None)
        user = await provider.users.by_id(user_id) if user_id else None
        if user is None or user.disabled:
            return await login_page(provider, ia)
        return pages.render(
            "consent.html",
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await client_name(provider, ia),
            email=user.email,
            scopes=[SCOPE_TEXT.get(s, s) for s in sorted(ia.scopes, key=_scope_order)],
        )

    async def checked_form(
        provider: Provider, uid: str, request: Request
    ) -> tuple[Interaction, Params] | Response:
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        ia = await load(provider, uid, request)
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
        provider = get()
        checked = await checked_form(provider, uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        email = (form.get("email") or "").strip()[:320]
        password = form.get("password") or ""
        if not email or not password:
            return await login_page(
                provider, ia, "Enter your email address and password.", email, 400
            )
        throttle = LoginThrottle(provider.limits, provider.hasher, client_ip(request), email)
        try:
            await throttle.admit()
        except RateLimited as exc:
            provider.audit.record(
                AuditEvent.LOGIN_FAILED, client_id=ia.client_id, reason="throttled"
            )
            response = await login_page(provider, ia, exc.description, email, 429)
            response.headers.update(exc.headers)
            return response
        user = await provider.users.by_email(email)
        if not await password_matches(provider, user, password, ia.client_id) or user is None:
            await throttle.failed()
            return await login_page(provider, ia, BAD_LOGIN, email, 400)
        now = provider.clock.now()
        session_value = random_secret(32)
        await provider.sessions.create(
            provider.hasher.hash(session_value),
            Session(user.id, now, now + timedelta(seconds=provider.settings.session_ttl_s)),
        )
        provider.audit.record(AuditEvent.LOGIN_SUCCEEDED, client_id=ia.client_id, user_id=user.id)
        ia = ia.signed_in(user.id, now)
        await provider.interactions.save(ia)
        response = await resume(provider, pages, ia, request)
        response.set_cookie(
            SESSION_COOKIE,
            session_value,
            max_age=provider.settings.session_ttl_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=cookie_is_secure(provider.issuer),
        )
        return response

    @router.post("/interaction/{uid}/consent")
    async def consent(request: Request, uid: str = UidPath) -> Response:
        provider = get()
        checked = await checked_form(provider, uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        session = await current_session(provider, request)
        user_id = ia.user_id or (session.user_id if session else None)
        if user_id is None:
            return await login_page(provider, ia)
        if form.get("decision") != "allow":
            await provider_finish(provider, ia)
            denied = AccessDenied("The user denied the request.")
            return error_redirect(provider.issuer, ia.redirect_uri, denied, ia.state)
        scopes = frozenset(ia.scopes)
        await provider.consents.grant(user_id, ia.client_id, scopes, provider.clock.now())
        provider.audit.record(
            AuditEvent.CONSENT_GRANTED,
            client_id=ia.client_id,
            user_id=user_id,
            scope=" ".join(ia.scopes),
        )
        ia = dataclasses.replace(ia, consented=True, user_id=user_id)
        return await resume(provider, pages, ia, request)

    return router


def _scope_order(scope: str) -> tuple[int, str]:
    order = list(SCOPE_TEXT)
    return (order.index(scope) if scope in order else len(order), scope)


async def password_matches(
    provider: Provider, user: User | None, password: str, client_id: str
) -> bool:
    """Whether ``password`` is the user's, and the user may sign in.

    An unknown address is checked against a dummy hash, so it takes as long as a real one;
    the answer is the same for unknown, disabled and wrong.
    """
    ok = await provider.passwords.verify(password, user.password_hash if user else None)
    if ok and user is not None and not user.disabled:
        return True
    provider.audit.record(
        AuditEvent.LOGIN_FAILED,
        client_id=client_id,
        user_id=user.id if user else None,
        reason="disabled" if ok else "bad_credentials",
    )
    return False
