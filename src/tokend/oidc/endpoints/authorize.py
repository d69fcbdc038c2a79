"""``/authorize`` (GET and POST) and the decision that follows each step of an interaction:
sign in, ask for consent, or send a code (or an error) back to the client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.crypto import random_id, random_secret
from tokend.core.errors import OAuthError, RateLimited, TokendError
from tokend.core.forms import Params, request_params
from tokend.oidc.audit import AuditEvent
from tokend.oidc.authorization import (
    AuthorizationPageError,
    RedirectableError,
    redirect_uri_of,
    validate,
)
from tokend.oidc.domain import AuthorizationCode, Client, Session
from tokend.oidc.endpoints.html import Pages
from tokend.oidc.interactions import Interaction
from tokend.oidc.provider import Provider
from tokend.oidc.rate_limits import client_ip

SESSION_COOKIE = "tokend_session"
INTERACTION_COOKIE = "tokend_interaction"


class LoginRequired(OAuthError):
    code = "login_required"
    default_description = "The user must sign in."


class ConsentRequired(OAuthError):
    code = "consent_required"
    default_description = "The user must consent."


def client_redirect(redirect_uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if urlsplit(redirect_uri).query else "?"
    response = RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=303)
    response.headers.update(NO_STORE)
    return response


def error_redirect(
    issuer: str, redirect_uri: str, error: OAuthError, state: str | None
) -> RedirectResponse:
    """RFC 6749 §4.1.2.1 error response, with RFC 9207 ``iss``."""
    return client_redirect(
        redirect_uri,
        {
            "error": error.code,
            "error_description": error.description,
            "state": state,
            "iss": issuer,
        },
    )


def cookie_is_secure(issuer: str) -> bool:
    return urlsplit(issuer).scheme == "https"


async def current_session(provider: Provider, request: Request) -> Session | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 128:
        return None
    return await provider.sessions.get(provider.hasher.hash(value), provider.clock.now())


def needs_login(ia: Interaction, session: Session | None, now: datetime) -> bool:
    if ia.user_id is not None:
        return False  # signed in during this very interaction
    if session is None or "login" in ia.prompts:
        return True
    # OIDC Core §3.1.2.1: max_age forces a fresh sign-in when the last one is too old.
    return ia.max_age_s is not None and now - session.auth_time > timedelta(seconds=ia.max_age_s)


async def resume(
    provider: Provider, pages: Pages, ia: Interaction, request: Request, *, started: bool = False
) -> Response:
    """Take the interaction as far as it can go without the user. ``started``: /authorize has
    just made it, and it is stored only if the user is needed."""
    client = await provider.clients.get(ia.client_id)
    if client is None:
        return pages.error("The application that sent you here is no longer known.")
    now = provider.clock.now()
    session = await current_session(provider, request)
    state = ia.state
    if needs_login(ia, session, now):
        if "none" in ia.prompts:
            await provider_finish(provider, ia)
            return error_redirect(provider.issuer, ia.redirect_uri, LoginRequired(), state)
        return await to_interaction(provider, pages, ia, request, started)
    user_id = ia.user_id or (session.user_id if session else None)
    auth_time = datetime.fromisoformat(ia.auth_time) if ia.auth_time else None
    if auth_time is None and session is not None:
        auth_time = session.auth_time
    user = await provider.users.by_id(user_id) if user_id else None
    if user is None or user.disabled or auth_time is None:
        return await to_interaction(provider, pages, ia, request, started)
    scopes = frozenset(ia.scopes)
    if not ia.consented and not client.skip_consent:
        granted = await provider.consents.granted(user.id, client.client_id)
        if "consent" in ia.prompts or not scopes <= granted:
            if "none" in ia.prompts:
                await provider_finish(provider, ia)
                return error_redirect(provider.issuer, ia.redirect_uri, ConsentRequired(), state)
            return await to_interaction(provider, pages, ia, request, started)
    code = await issue_code(provider, client, ia, user.id, auth_time)
    await provider_finish(provider, ia)
    return client_redirect(ia.redirect_uri, {"code": code, "state": state, "iss": provider.issuer})


async def provider_finish(provider: Provider, ia: Interaction) -> None:
    await provider.interactions.finish(ia.uid)


async def to_interaction(
    provider: Provider, pages: Pages, ia: Interaction, request: Request, started: bool
) -> Response:
    """Send the browser to the login or consent page; a new interaction is stored first."""
    if started:
        try:
            # Every pending sign-in is a database row: one address may start only so many.
            await provider.limits.hit("interactions_per_ip", client_ip(request))
        except RateLimited as exc:
            refused = pages.error(exc.description, status=429, title="Too many sign-in requests")
            refused.headers.update(exc.headers)
            return refused
        await provider.interactions.save(ia)
    response = RedirectResponse(f"/interaction/{ia.uid}", status_code=303)
    response.set_cookie(
        INTERACTION_COOKIE,
        ia.uid,
        max_age=provider.settings.interaction_ttl_s,
        path="/interaction",
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(provider.issuer),
    )
    response.headers.update(NO_STORE)
    return response


async def issue_code(
    provider: Provider, client: Client, ia: Interaction, user_id: str, auth_time: datetime
) -> str:
    value = random_secret(32)
    now = provider.clock.now()
    await provider.grant_deps.codes.save(
        AuthorizationCode(
            code_hash=provider.hasher.hash(value),
            grant_id=random_id("g_"),
            client_id=client.client_id,
            user_id=user_id,
            redirect_uri=ia.redirect_uri,
            scopes=frozenset(ia.scopes),
            nonce=ia.nonce,
            code_challenge=ia.code_challenge,
            code_challenge_method=ia.code_challenge_method,
            auth_time=auth_time,
            acr=None,
            expires_at=now + timedelta(seconds=provider.settings.code_ttl_s),
        )
    )
    provider.audit.record(AuditEvent.CODE_ISSUED, client_id=client.client_id, user_id=user_id)
    return value


def authorize_router(get: Callable[[], Provider], pages: Pages) -> APIRouter:
    # Browser endpoints answer with pages and redirects, not JSON: kept out of the API schema.
    router = APIRouter(tags=["oidc"], include_in_schema=False)

    async def authorize(request: Request, params: Params) -> Response:
        provider = get()
        client_id = params.get("client_id")
        client = await provider.clients.get(client_id) if client_id else None
        try:
            client, redirect_uri = redirect_uri_of(client, params)
        except AuthorizationPageError as exc:
            return pages.error(exc.message, title="This sign-in link is not valid")
        try:
            auth_request = validate(client, redirect_uri, params, provider.settings)
        except RedirectableError as exc:
            return error_redirect(provider.issuer, exc.redirect_uri, exc.error, exc.state)
        ia = provider.interactions.new(auth_request)
        return await resume(provider, pages, ia, request, started=True)

    @router.api_route(
        "/authorize",
        methods=["GET", "POST"],
        summary="Authorization endpoint (RFC 6749 §3.1; form post: OIDC Core §3.1.2.1)",
    )
    async def authorize_endpoint(request: Request) -> Response:
        try:
            params = await request_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        return await authorize(request, params)

    return router
