"""The login and consent pages of an interaction (``/interaction/{uid}``).

Forms are CSRF-protected twice: the interaction cookie must name this interaction, and the
form must carry the interaction's own random token (synchronizer token pattern).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.core.errors import RateLimited, TokendError
from tokend.core.forms import Params, form_params
from tokend.core.routing import api_router
from tokend.oidc.account_chooser import (
    ACCOUNTS_COOKIE,
    AccountChooser,
    KnownAccount,
    remembered,
    wants_chooser,
)
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.interactions import Interaction
from tokend.oidc.known_devices import DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_S
from tokend.oidc.passkeys import script_json
from tokend.oidc.routes.authorize import INTERACTION_COOKIE, SESSION_COOKIE, Outcomes
from tokend.oidc.routes.peer import client_ip
from tokend.oidc.settings import OidcSettings
from tokend.oidc.sign_in import SecondFactorNeeded, SignedIn, SignIn
from tokend.oidc.upstreams.brokering import Brokering, UpstreamRefused
from tokend.oidc.upstreams.identity import UpstreamFailed

SCOPE_TEXT = {
    "openid": "Know who you are (your account identifier)",
    "profile": "See your name, picture and language",
    "email": "See your email address",
    "address": "See your postal address",
    "phone": "See your phone number",
    "offline_access": "Stay connected when you are not using it",
    "roles": "Know your roles and groups",
}
BAD_LOGIN = "The email address or password is not correct."
BAD_PASSKEY = "That passkey could not sign you in. Try again, or use your password."
BAD_SECOND_PASSKEY = "That passkey did not confirm your sign-in. Try again with one of yours."
BAD_CODE = "That code is not correct, or was used already. Try the next one."
EXPIRED = "This sign-in request has expired or was opened in another window. Start again."
UidPath = Path(pattern=r"^[a-z2-7]{24}$")
UpstreamPath = Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: The browser's half of an upstream redirect's state (``upstreams.states``): sent back only
#: to the callback.
UPSTREAM_COOKIE = "tokend_upstream"
UPSTREAM_COOKIE_PATH = "/upstream"


def interaction_router(
    flow: Callable[[], AuthorizationFlow],
    sign_in: Callable[[], SignIn],
    outcomes: Outcomes,
    config: OidcSettings,
    brokering: Callable[[], Brokering],
    sign_up: bool = False,
) -> APIRouter:
    """``sign_up``: the login page links to ``/sign-up`` (self sign-up is on)."""
    router = api_router(tags=["oidc pages"], include_in_schema=False)
    pages = outcomes.pages

    async def load(uid: str, request: Request) -> Interaction | None:
        if request.cookies.get(INTERACTION_COOKIE) != uid:
            return None
        return await flow().interaction(uid)

    async def login_page(
        ia: Interaction, error: str | None = None, email: str = "", status: int = 200
    ) -> Response:
        return pages.render_fetching(
            "login.html",
            status,
            passkey_options=script_json(await sign_in().passkey_options(ia)),
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            error=error,
            email=email or ia.login_hint or "",
            sign_up=sign_up,
            upstreams=await brokering().offered(),
        )

    async def second_factor_page(
        ia: Interaction, error: str | None = None, status: int = 200
    ) -> Response:
        choices = await sign_in().second_factor_choices(ia)
        options = choices.passkey_options
        return pages.render_scripted(
            "second_factor.html",
            status,
            passkey_options=script_json(options) if options is not None else None,
            totp=choices.totp,
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            error=error,
        )

    async def chooser_page(ia: Interaction, accounts: list[KnownAccount]) -> Response:
        return pages.render(
            "select_account.html",
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            accounts=accounts,
        )

    async def browser_accounts(request: Request) -> list[KnownAccount]:
        return await AccountChooser(flow()).accounts(
            request.cookies.get(SESSION_COOKIE), request.cookies.get(ACCOUNTS_COOKIE)
        )

    @router.get("/interaction/{uid}")
    async def show(request: Request, uid: str = UidPath) -> Response:
        ia = await load(uid, request)
        if ia is None:
            return pages.error(EXPIRED, title="Sign-in expired")
        if ia.pending_user_id is not None and ia.user_id is None:
            return await second_factor_page(ia)
        if wants_chooser(ia):
            # OIDC Core §3.1.2.1: several accounts signed in here: which one? One or none:
            # signing in is how another account is picked (the login page below).
            accounts = await browser_accounts(request)
            if len(accounts) > 1:
                return await chooser_page(ia, accounts)
        user = await flow().user_to_ask(ia, request.cookies.get(SESSION_COOKIE))
        if user is None:
            return await login_page(ia)
        return pages.render(
            "consent.html",
            uid=ia.uid,
            csrf_token=ia.csrf_token,
            client_name=await flow().client_name(ia),
            email=user.email,
            scopes=[SCOPE_TEXT.get(s, s) for s in sorted(ia.consent_scopes, key=_scope_order)],
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
        device = request.headers.get("user-agent", "")
        try:
            signed_in = await sign_in().sign_in(ia, email, password, client_ip(request), device)
        except RateLimited as exc:
            response = await login_page(ia, exc.description, email, 429)
            response.headers.update(exc.headers)
            return response
        if signed_in is None:
            return await login_page(ia, BAD_LOGIN, email, 400)
        if isinstance(signed_in, SecondFactorNeeded):
            return await second_factor_page(signed_in.interaction)
        return await finish_sign_in(signed_in, request, sign_in(), flow(), outcomes, config)

    async def second_step_form(uid: str, request: Request) -> tuple[Interaction, Params] | Response:
        """The checked form of the second step, for an interaction whose first factor was right
        (a page saying the sign-in expired otherwise)."""
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        if checked[0].pending_user_id is None:
            return pages.error(EXPIRED, status=403, title="Sign-in expired")
        return checked

    @router.post("/interaction/{uid}/second-factor")
    async def second_factor(request: Request, uid: str = UidPath) -> Response:
        checked = await second_step_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        code = (form.get("code") or "").strip()[:64]
        if not code:
            return await second_factor_page(ia, "Enter the code from your app.", 400)
        device = request.headers.get("user-agent", "")
        try:
            signed_in = await sign_in().second_factor(ia, code, client_ip(request), device)
        except RateLimited as exc:
            response = await second_factor_page(ia, exc.description, 429)
            response.headers.update(exc.headers)
            return response
        if signed_in is None:
            return await second_factor_page(ia, BAD_CODE, 400)
        return await finish_sign_in(signed_in, request, sign_in(), flow(), outcomes, config)

    @router.post("/interaction/{uid}/second-factor/passkey")
    async def second_factor_passkey(request: Request, uid: str = UidPath) -> Response:
        checked = await second_step_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        credential = form.get("credential") or ""
        device = request.headers.get("user-agent", "")
        try:
            signed_in = await sign_in().second_factor_with_passkey(
                ia, credential, client_ip(request), device
            )
        except RateLimited as exc:
            response = await second_factor_page(ia, exc.description, 429)
            response.headers.update(exc.headers)
            return response
        if signed_in is None:
            fresh = await flow().interaction(ia.uid) or ia
            return await second_factor_page(fresh, BAD_SECOND_PASSKEY, 400)
        return await finish_sign_in(signed_in, request, sign_in(), flow(), outcomes, config)

    @router.post("/interaction/{uid}/passkey/options")
    async def passkey_options(request: Request, uid: str = UidPath) -> Response:
        """Fresh options for a username-less passkey sign-in (WebAuthn L3 §5.1.4: the
        login page's conditional mediation, and its button): a new challenge, kept in the
        interaction in place of the last (one at a time, used once), answered at
        ``/interaction/{uid}/passkey`` like the page's own."""
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        options = await sign_in().passkey_options(checked[0])
        return Response(
            options, media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @router.post("/interaction/{uid}/passkey")
    async def passkey(request: Request, uid: str = UidPath) -> Response:
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        credential = form.get("credential") or ""
        device = request.headers.get("user-agent", "")
        try:
            signed_in = await sign_in().sign_in_with_passkey(
                ia, credential, client_ip(request), device
            )
        except RateLimited as exc:
            response = await login_page(ia, exc.description, status=429)
            response.headers.update(exc.headers)
            return response
        if signed_in is None:
            fresh = await flow().interaction(ia.uid) or ia
            return await login_page(fresh, BAD_PASSKEY, status=400)
        return await finish_sign_in(signed_in, request, sign_in(), flow(), outcomes, config)

    @router.post("/interaction/{uid}/upstream/{upstream_id}")
    async def upstream(
        request: Request, uid: str = UidPath, upstream_id: str = UpstreamPath
    ) -> Response:
        """Off to an upstream identity provider to sign in ("Sign in with ...")."""
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, _ = checked
        try:
            redirect = await brokering().start(
                upstream_id, client_ip(request), interaction_uid=ia.uid
            )
        except UpstreamRefused as exc:
            return pages.error(exc.shown, exc.status, exc.title)
        except UpstreamFailed as exc:
            return await login_page(ia, exc.shown, status=502)
        except RateLimited as exc:
            response = await login_page(ia, exc.description, status=429)
            response.headers.update(exc.headers)
            return response
        return upstream_redirect(redirect.url, redirect.binding, config, outcomes.secure)

    @router.post("/interaction/{uid}/account")
    async def select_account(request: Request, uid: str = UidPath) -> Response:
        """The chooser's answer: one of the browser's accounts (its session's ``sid``), or
        ``another`` to sign in with one more."""
        checked = await checked_form(uid, request)
        if isinstance(checked, Response):
            return checked
        ia, form = checked
        chooser = AccountChooser(flow())
        if not wants_chooser(ia):
            return pages.error(EXPIRED, status=403, title="Sign-in expired")
        if form.get("another"):
            return await login_page(await chooser.another(ia))
        chosen = await chooser.choose(
            ia,
            form.get("sid") or "",
            request.cookies.get(SESSION_COOKIE),
            request.cookies.get(ACCOUNTS_COOKIE),
        )
        if chosen is None:  # signed out meanwhile, or not a session of this browser
            return await chooser_page(ia, await browser_accounts(request))
        outcome, session_cookie = chosen
        response = outcomes.render(outcome)
        # The chosen session is the browser's current one from now on (the consent page that
        # may follow, and the next authorization request, see it).
        set_session_cookie(response, session_cookie, config, outcomes.secure)
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


async def finish_sign_in(
    signed_in: SignedIn,
    request: Request,
    sign_in: SignIn,
    flow: AuthorizationFlow,
    outcomes: Outcomes,
    config: OidcSettings,
) -> Response:
    """On from a sign-in (password, second factor, passkey, upstream): back to the account
    pages, or on with the authorization request; the new session's cookie set, and the
    browser's earlier sessions kept in its accounts (``account_chooser``) and its device cookie
    (``known_devices``: a browser new to the account is told of)."""
    device_cookie = await sign_in.browser_seen(
        signed_in,
        request.cookies.get(DEVICE_COOKIE),
        client_ip(request),
        request.headers.get("user-agent", ""),
    )
    ia = signed_in.interaction
    if ia.is_for_account:  # a sign-in to the account pages: no client, no code
        await flow.interactions.finish(ia.uid)
        response: Response = RedirectResponse(ia.redirect_uri, status_code=303)
    else:
        # The new session is the browser's from this answer on: the code is issued in it (its
        # sid goes into the ID token, OpenID Back-Channel Logout §2.1).
        outcome = await flow.resume(ia, signed_in.session_cookie)
        response = outcomes.render(outcome)
    set_session_cookie(response, signed_in.session_cookie, config, outcomes.secure)
    accounts = remembered(
        signed_in.session_cookie,
        request.cookies.get(SESSION_COOKIE),
        request.cookies.get(ACCOUNTS_COOKIE),
    )
    response.set_cookie(
        ACCOUNTS_COOKIE, accounts, max_age=config.session_ttl_s, path="/", httponly=True,
        samesite="lax", secure=outcomes.secure,
    )  # fmt: skip
    response.set_cookie(
        DEVICE_COOKIE, device_cookie, max_age=DEVICE_COOKIE_MAX_AGE_S, path="/", httponly=True,
        samesite="lax", secure=outcomes.secure,
    )  # fmt: skip
    return response


def set_session_cookie(
    response: Response, session_cookie: str, config: OidcSettings, secure: bool
) -> None:
    response.set_cookie(
        SESSION_COOKIE, session_cookie, max_age=config.session_ttl_s, path="/", httponly=True,
        samesite="lax", secure=secure,
    )  # fmt: skip


def upstream_redirect(url: str, binding: str, config: OidcSettings, secure: bool) -> Response:
    """The redirect to an upstream's authorization endpoint, with the browser's binding cookie
    (SameSite=Lax: a top-level navigation back from the upstream carries it)."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        UPSTREAM_COOKIE, binding, max_age=config.upstream_state_ttl_s, path=UPSTREAM_COOKIE_PATH,
        httponly=True, samesite="lax", secure=secure,
    )  # fmt: skip
    return response


def _scope_order(scope: str) -> tuple[int, str]:
    order = list(SCOPE_TEXT)
    return (order.index(scope) if scope in order else len(order), scope)
