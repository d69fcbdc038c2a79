"""``/authorize`` (GET and POST), and how each step of an interaction is answered: a redirect
back to the client, on to the interaction's pages, or an error page."""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tokend.core.cache_control import NO_STORE
from tokend.core.errors import OAuthError, TokendError
from tokend.core.forms import Params, request_params
from tokend.core.html_headers import HTML_PAGE_HEADERS
from tokend.core.routing import api_router
from tokend.oidc.authorization import (
    JWT_RESPONSE_MODES,
    AuthorizationPageError,
    RedirectableError,
    redirect_uri_of,
    validate,
)
from tokend.oidc.authorization_flow import (
    AskUser,
    AuthorizationFlow,
    CodeIssued,
    DeviceDone,
    ErrorToClient,
    Outcome,
)
from tokend.oidc.pushed_requests import REQUEST_URI_PREFIX
from tokend.oidc.routes.html import Pages
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.settings import OidcSettings

SESSION_COOKIE = "tokend_session"
INTERACTION_COOKIE = "tokend_interaction"


def client_redirect(redirect_uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if urlsplit(redirect_uri).query else "?"
    response = RedirectResponse(f"{redirect_uri}{sep}{query}", status_code=303)
    response.headers.update(NO_STORE)
    return response


#: The one script of the form post page (OAuth 2.0 Form Post Response Mode §2): allowed by
#: its hash, so the page's CSP still runs no other script.
_SUBMIT_SCRIPT: Final = "document.forms[0].submit();"
_SUBMIT_HASH: Final = base64.b64encode(hashlib.sha256(_SUBMIT_SCRIPT.encode()).digest()).decode()
FORM_POST_HEADERS: Final = {
    **HTML_PAGE_HEADERS,
    "Content-Security-Policy": f"default-src 'none'; script-src 'sha256-{_SUBMIT_HASH}'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def form_post(redirect_uri: str, params: dict[str, str | None]) -> Response:
    """OAuth 2.0 Form Post Response Mode §2: the parameters as hidden fields of a form the
    browser posts to the client's redirect URI at once (a button without script)."""
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if v is not None
    )
    body = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Submit</title></head>'
        f'<body><form method="post" action="{html.escape(redirect_uri)}">{fields}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        f"<script>{_SUBMIT_SCRIPT}</script></body></html>"
    )
    return HTMLResponse(body, headers=FORM_POST_HEADERS)


#: JARM §2.1: signs the response parameters for a client (``AuthorizationFlow.sign_response``).
JarmSigner = Callable[[str, Mapping[str, str | None]], str]


def respond(
    redirect_uri: str,
    params: dict[str, str | None],
    response_mode: str,
    client_id: str | None = None,
    jarm: JarmSigner | None = None,
) -> Response:
    """The authorization response in the request's ``response_mode``."""
    if response_mode in JWT_RESPONSE_MODES and client_id is not None and jarm is not None:
        # JARM §2.3: one ``response`` parameter; ``jwt`` is ``query.jwt`` for the code flow.
        params = {"response": jarm(client_id, params)}
        response_mode = "form_post" if response_mode == "form_post.jwt" else "query"
    if response_mode == "form_post":
        return form_post(redirect_uri, params)
    return client_redirect(redirect_uri, params)


def error_redirect(
    issuer: str,
    redirect_uri: str,
    error: OAuthError,
    state: str | None,
    response_mode: str = "query",
    client_id: str | None = None,
    jarm: JarmSigner | None = None,
) -> Response:
    """RFC 6749 §4.1.2.1 error response, with RFC 9207 ``iss``."""
    return respond(
        redirect_uri,
        {
            "error": error.code,
            "error_description": error.description,
            "state": state,
            "iss": issuer,
        },
        response_mode,
        client_id,
        jarm,
    )


def cookie_is_secure(issuer: str) -> bool:
    return urlsplit(issuer).scheme == "https"


class Outcomes:
    """Renders the steps' outcomes: the issuer's redirects, cookies and pages."""

    def __init__(
        self, pages: Pages, issuer: str, config: OidcSettings, jarm: JarmSigner | None = None
    ) -> None:
        self.pages = pages
        self.issuer = issuer
        self.jarm = jarm
        self.secure = cookie_is_secure(issuer)
        self._interaction_ttl_s = config.interaction_ttl_s

    def render(self, outcome: Outcome) -> Response:
        if isinstance(outcome, CodeIssued):
            # RFC 9207: the authorization response carries iss.
            params = {"code": outcome.code, "state": outcome.state, "iss": self.issuer}
            return respond(
                outcome.redirect_uri, params, outcome.response_mode, outcome.client_id, self.jarm
            )
        if isinstance(outcome, ErrorToClient):
            return error_redirect(
                self.issuer,
                outcome.redirect_uri,
                outcome.error,
                outcome.state,
                outcome.response_mode,
                outcome.client_id,
                self.jarm,
            )
        if isinstance(outcome, AskUser):
            return self._to_interaction(outcome.uid)
        if isinstance(outcome, DeviceDone):
            if outcome.approved:
                return self.pages.render(
                    "message.html",
                    title="Device connected",
                    message="You can close this window and return to your device.",
                )
            return self.pages.render(
                "message.html",
                title="Request denied",
                message="The device was not given access. You can close this window.",
            )
        page = self.pages.error(outcome.message, outcome.status, outcome.title)
        page.headers.update(outcome.headers)
        return page

    def _to_interaction(self, uid: str) -> Response:
        """To the login or consent page, with the cookie that binds the browser to it."""
        response = RedirectResponse(f"/interaction/{uid}", status_code=303)
        response.set_cookie(
            INTERACTION_COOKIE,
            uid,
            max_age=self._interaction_ttl_s,
            path="/interaction",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )
        response.headers.update(NO_STORE)
        return response


def authorize_router(
    get: Callable[[], AuthorizationFlow], outcomes: Outcomes, config: OidcSettings
) -> APIRouter:
    # Browser endpoints answer with pages and redirects, not JSON: kept out of the API schema.
    router = api_router(tags=["oidc"], include_in_schema=False)
    pages = outcomes.pages

    async def authorize(request: Request, params: Params) -> Response:
        flow = get()
        request_uri = params.get("request_uri")
        pushed = request_uri is not None and request_uri.startswith(REQUEST_URI_PREFIX)
        signed = False
        if request_uri is not None and pushed:
            # RFC 9126 §4: only the pushed parameters count (and client_id must match).
            taken = await flow.pushed.take(request_uri, params.get("client_id"))
            if taken is None:
                return pages.error(
                    "This sign-in link has expired or was already used. Start again.",
                    title="This sign-in link is not valid",
                )
            params, signed = taken.params, taken.signed
        elif (signed_request := params.get("request")) is not None and request_uri is None:
            unpacked = await request_object(flow, params, signed_request)
            if isinstance(unpacked, Response):
                return unpacked
            params, signed = unpacked, True
        client = await flow.client(params.get("client_id"))
        try:
            client, redirect_uri = redirect_uri_of(client, params)
        except AuthorizationPageError as exc:
            return pages.error(exc.message, title="This sign-in link is not valid")
        try:
            auth_request = validate(
                client, redirect_uri, params, config, pushed=pushed, signed=signed
            )
        except RedirectableError as exc:
            return error_redirect(
                outcomes.issuer,
                exc.redirect_uri,
                exc.error,
                exc.state,
                exc.response_mode,
                exc.client_id,
                outcomes.jarm,
            )
        session_cookie = request.cookies.get(SESSION_COOKIE)
        return outcomes.render(await flow.start(auth_request, session_cookie, client_ip(request)))

    async def request_object(
        flow: AuthorizationFlow, params: Params, request: str
    ) -> Params | Response:
        """RFC 9101 §5: the parameters of a signed request object; an error redirect when the
        query's own redirect URI is the client's, else an error page."""
        client = await flow.client(params.get("client_id"))
        if client is None:
            return pages.error("The application that sent you here is not known.")
        try:
            return await flow.request_objects.parameters(client, request)
        except OAuthError as exc:
            try:
                _client, redirect_uri = redirect_uri_of(client, params)
            except AuthorizationPageError:
                return pages.error(exc.description, title="This sign-in link is not valid")
            return error_redirect(outcomes.issuer, redirect_uri, exc, params.get("state"))

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
