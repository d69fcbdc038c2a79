"""``/logout``: OpenID Connect RP-Initiated Logout 1.0 (GET and POST), and its confirmation.

An ID token naming the signed-in user (``id_token_hint``) shows that the relying party the user
is signed in to asks: the session ends at once. Without one, or with one naming someone else,
any page could send the browser here (logout CSRF), so the user is asked first (§2); the
confirmation form carries a token derived from the session cookie, which no other site knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.errors import InvalidToken, TokendError
from tokend.core.jwt import verify
from tokend.oidc.audit import AuditEvent
from tokend.oidc.provider import Provider
from tokend.oidc.records import Session
from tokend.oidc.redirect_uris import is_allowed_redirect_uri
from tokend.oidc.routes.authorize import SESSION_COOKIE, client_redirect, cookie_is_secure
from tokend.oidc.routes.form import Params, form_params, request_params
from tokend.oidc.routes.html import Pages

#: RP-Initiated Logout §2: an expired ID token is still a fine hint of who is logging out.
HINT_LEEWAY_S = int(timedelta(days=365).total_seconds())
INVALID = "The sign-out request is not valid."


class _Refused(Exception):
    """The request cannot be honoured; shown on a page, never redirected."""


@dataclass(frozen=True, slots=True)
class _Request:
    client_id: str | None
    target: str | None
    state: str | None
    #: The user the ``id_token_hint`` names, when one was sent.
    hinted_user: str | None = None


@dataclass(frozen=True, slots=True)
class _SignedIn:
    cookie: str = field(repr=False)
    session: Session


def logout_router(get: Callable[[], Provider], pages: Pages) -> APIRouter:
    # Browser endpoints answer with pages and redirects, not JSON: kept out of the API schema.
    router = APIRouter(tags=["oidc"], include_in_schema=False)

    async def logout(request: Request, params: Params) -> Response:
        provider = get()
        try:
            wanted = await _parse(provider, params)
        except _Refused as exc:
            return pages.error(str(exc), title="Sign-out failed")
        signed_in = await _signed_in(provider, request)
        # RP-Initiated Logout §2: only an ID token of the signed-in user shows the request
        # comes from a relying party of theirs; otherwise the user confirms.
        if signed_in is not None and wanted.hinted_user != signed_in.session.user_id:
            return await _confirmation(provider, pages, wanted, signed_in)
        return await _end(provider, pages, wanted, signed_in)

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
        provider = get()
        try:
            form = await form_params(request)
        except TokendError as exc:
            return pages.error(exc.description)
        signed_in = await _signed_in(provider, request)
        if signed_in is None:
            return _signed_out_page(pages)
        if not provider.hasher.verify(_csrf_material(signed_in), form.get("csrf_token") or ""):
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
            wanted = await _parse(provider, form, hint_allowed=False)
        except _Refused as exc:
            return pages.error(str(exc), title="Sign-out failed")
        return await _end(provider, pages, wanted, signed_in)

    return router


async def _parse(provider: Provider, params: Params, *, hint_allowed: bool = True) -> _Request:
    client_id = params.get("client_id")
    hinted_user = None
    hint = params.get("id_token_hint") if hint_allowed else None
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
            raise _Refused(INVALID) from None
        audience = claims.audience
        if client_id is not None and client_id not in audience:
            raise _Refused(INVALID)
        client_id = client_id or (audience[0] if audience else None)
        hinted_user = claims.subject
    target = params.get("post_logout_redirect_uri")
    if target is not None:
        client = await provider.clients.get(client_id) if client_id else None
        # Never redirect to an address the client did not register (§3), nor to one the
        # registration check would refuse now (stored before it existed).
        if (
            client is None
            or target not in client.post_logout_redirect_uris
            or not is_allowed_redirect_uri(target)
        ):
            raise _Refused("The address to return to after signing out is not registered.")
    return _Request(client_id, target, params.get("state"), hinted_user)


async def _signed_in(provider: Provider, request: Request) -> _SignedIn | None:
    value = request.cookies.get(SESSION_COOKIE)
    if not value or len(value) > 128:
        return None
    session = await provider.sessions.get(provider.hasher.hash(value), provider.clock.now())
    return _SignedIn(value, session) if session is not None else None


def _csrf_material(signed_in: _SignedIn) -> str:
    """What the confirmation's CSRF token is the HMAC of: bound to this very session."""
    return f"logout-confirmation:{signed_in.cookie}"


async def _confirmation(
    provider: Provider, pages: Pages, wanted: _Request, signed_in: _SignedIn
) -> Response:
    client = await provider.clients.get(wanted.client_id) if wanted.client_id else None
    user = await provider.users.by_id(signed_in.session.user_id)
    return pages.render(
        "logout.html",
        csrf_token=provider.hasher.hash(_csrf_material(signed_in)),
        client_name=client.name if client is not None else None,
        email=user.email if user is not None else "",
        client_id=wanted.client_id,
        target=wanted.target,
        state=wanted.state,
    )


async def _end(
    provider: Provider, pages: Pages, wanted: _Request, signed_in: _SignedIn | None
) -> Response:
    user_id = None
    if signed_in is not None:
        user_id = signed_in.session.user_id
        await provider.sessions.end(provider.hasher.hash(signed_in.cookie))
    provider.audit.record(AuditEvent.LOGOUT, client_id=wanted.client_id, user_id=user_id)
    if wanted.target is not None:
        response: Response = client_redirect(wanted.target, {"state": wanted.state})
    else:
        response = _signed_out_page(pages)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax",
        secure=cookie_is_secure(provider.issuer),
    )  # fmt: skip
    return response


def _signed_out_page(pages: Pages) -> Response:
    return pages.render(
        "message.html", title="You are signed out", message="You can close this window."
    )
