"""Signing in to the console through tokend's own OpenID provider: the authorization code flow
with PKCE (RFC 6749 §4.1, RFC 7636, S256) as the built-in public client ``tokend-console``,
redirected to ``/console/callback`` on this issuer. The code is redeemed in process (as the
demo relying party does), so the console needs no network path to its own public URL.

The console asks for ``tokend:admin`` besides ``openid profile email``. A user gets a session
when they hold the console's admin role (``console.admin_role``), or when the provider granted
``tokend:admin``, read from the scope of the token response the code was redeemed for (RFC 6749
§5.1; redeemed in process, so nothing the browser sends decides it). The provider grants that
scope in a user's grant only to a user holding ``oidc.admin_scope_role`` realm-wide or as a role
of this client (``oidc.admin_scope``), never because a client may ask for it. Every later
request applies the same two checks to the user as stored then, so a removed role ends the
session's access at once.

Step-up (``console.step_up``): ``/console/login?step_up=1`` asks for a multi-factor sign-in
with an essential ``acr`` claim (OIDC Core §5.5.1.1: the provider signs a password-only session
in again, or answers ``unmet_authentication_requirements`` to a user without a second factor),
and the callback accepts only an ID token whose ``acr`` says so (§3.1.3.7 item 12).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tokend.console.session import LOGIN_COOKIE, SESSION_COOKIE, LoginState
from tokend.console.web import Console
from tokend.core.admin_auth import ADMIN_SCOPE
from tokend.core.errors import InvalidToken, TokendError
from tokend.core.pkce import s256
from tokend.oidc.admin_scope import CONSOLE_CLIENT_ID, AdminScopeRule
from tokend.oidc.authn_context import ACR_MFA
from tokend.oidc.grants import GRANTS, TokenRequest
from tokend.oidc.records import User
from tokend.oidc.registry import Registry
from tokend.oidc.routes.token import TokenServices
from tokend.oidc.schemas import ClientCreate

SCOPE: Final = f"openid profile email {ADMIN_SCOPE}"
#: OIDC Core §5.5: the step-up sign-in's ID token must carry this acr.
STEP_UP_CLAIMS: Final = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_MFA]}}})


REFUSED: Final = (
    "This account may not use the console: it lacks the administrator role "
    "and was not granted the tokend:admin scope."
)
NO_SECOND_FACTOR: Final = (
    "Changes in the console need a sign-in with a second factor. Add an authenticator app or "
    "a passkey to your account at {issuer}/account/security, then sign in again."
)


def console_client(issuer: str, self_url: str) -> ClientCreate:
    """The built-in public client the console signs in with; its redirect URI is this server's."""
    callbacks = list(dict.fromkeys([f"{issuer}/console/callback", f"{self_url}/console/callback"]))
    return ClientCreate(
        name="tokend console",
        grant_types=["authorization_code"],
        redirect_uris=callbacks,
        scope=SCOPE,
        public=True,
        require_pkce=True,
        skip_consent=True,
    )


@dataclass(frozen=True, slots=True)
class SignInServices:
    registry: Callable[[], Registry]
    tokens: Callable[[], TokenServices]
    admin_role: str
    #: The ID token's claims once verified (signature, ``iss``, ``aud``, ``exp``).
    verify_id_token: Callable[[str], Mapping[str, object]]
    #: Whom the provider grants ``tokend:admin`` (``oidc.admin_scope``).
    admin_scope: AdminScopeRule | None = None

    async def is_admin(self, user_id: str) -> bool:
        user = await self.registry().users.by_id(user_id)
        return user is not None and self.allows(user)

    def has_role(self, user: User) -> bool:
        return not user.disabled and self.admin_role in user.roles

    def allows(self, user: User) -> bool:
        """The admin role, or what the provider requires to grant this client tokend:admin."""
        if self.has_role(user):
            return True
        rule = self.admin_scope
        return rule is not None and rule.allows(user, CONSOLE_CLIENT_ID)

    def admitted_by(self, user: User, granted: frozenset[str]) -> str | None:
        """Why ``user`` gets a session (``role`` or ``scope``), given the scopes the token
        response granted; None: no session."""
        if self.has_role(user):
            return "role"
        if ADMIN_SCOPE in granted and self.allows(user):
            return "scope"
        return None


def signin_router(console: Console, services: SignInServices, issuer: str) -> APIRouter:
    router = console.router()
    redirect_uri = f"{issuer}/console/callback"

    @router.get("/console/login")
    async def login(request: Request) -> Response:
        now = console.clock.now().timestamp()
        params = request.query_params
        step_up = params.get("step_up") == "1"
        state = LoginState.new(now, params.get("next", "/console")[:200], step_up)
        query = {
            "response_type": "code", "client_id": CONSOLE_CLIENT_ID, "redirect_uri": redirect_uri,
            "scope": SCOPE, "state": state.state, "nonce": state.nonce,
            "code_challenge": s256(state.verifier), "code_challenge_method": "S256",
        }  # fmt: skip
        if step_up:
            query["claims"] = STEP_UP_CLAIMS
        response = RedirectResponse(f"/authorize?{urlencode(query)}", status_code=303)
        console.cookies.set_login(response, state)
        return response

    @router.get("/console/callback")
    async def callback(request: Request) -> Response:
        now = console.clock.now()
        params = request.query_params
        state = console.cookies.login(request.cookies.get(LOGIN_COOKIE), now.timestamp())
        # RFC 6749 §10.12: the state must be the one this browser was sent with.
        if state is None or not hmac.compare_digest(
            state.state.encode(), params.get("state", "").encode()
        ):
            return console.error(None, "The sign-in response does not match this browser.", 400)
        code = params.get("code", "")
        if not code:
            reason = params.get("error", "no code")[:100]
            if reason == "unmet_authentication_requirements":
                return console.error(None, NO_SECOND_FACTOR.format(issuer=issuer), 403)
            return console.error(None, f"Sign-in did not complete: {reason}.", 400)
        redeemed = await _redeem(services, code, state.verifier, state.nonce, redirect_uri)
        if isinstance(redeemed, Response):
            return redeemed
        claims, granted = redeemed
        user_id, acr = str(claims["sub"]), claims.get("acr")
        if state.step_up and acr != ACR_MFA:
            return console.error(None, NO_SECOND_FACTOR.format(issuer=issuer), 403)
        user = await services.registry().users.by_id(user_id)
        response: Response
        admitted_by = services.admitted_by(user, granted) if user is not None else None
        if user is None or admitted_by is None:
            console.audit.record(now, "sign_in", user_id, outcome="refused")
            response = console.error(None, REFUSED, 403)
        else:
            session = console.cookies.new_session(
                user.id, user.email, now.timestamp(), acr if isinstance(acr, str) else ""
            )
            console.audit.record(
                now, "sign_in", user.id, step_up="yes" if state.step_up else "no", via=admitted_by
            )
            response = RedirectResponse(state.next_path, status_code=303)
            console.cookies.set_session(response, session)
        console.cookies.clear(response, LOGIN_COOKIE)
        return response

    async def _redeem(
        services: SignInServices, code: str, verifier: str, nonce: str, redirect: str
    ) -> tuple[Mapping[str, object], frozenset[str]] | Response:
        """The verified ID token's claims and the scopes the token response granted."""
        client = await services.registry().cached.get(CONSOLE_CLIENT_ID)
        if client is None:
            return console.error(None, "The console's client is missing.", 503)
        try:
            result = await GRANTS["authorization_code"].handle(
                TokenRequest(
                    "authorization_code",
                    {"code": code, "redirect_uri": redirect, "code_verifier": verifier},
                ),
                client,
                services.tokens().grants,
            )
        except TokendError as exc:
            return console.error(None, f"Sign-in failed: {exc.description}", 400)
        if result.id_token is None:
            return console.error(None, "Sign-in failed: no ID token.", 400)
        try:
            # OIDC Core §3.1.3.7: signed by this issuer's keyring, for this client, not expired.
            claims = services.verify_id_token(result.id_token)
        except InvalidToken:
            return console.error(None, "Sign-in failed: the ID token does not verify.", 400)
        sub = claims.get("sub")
        # OIDC Core §3.1.3.7: the nonce must be the one sent.
        if not isinstance(sub, str) or claims.get("nonce") != nonce:
            return console.error(None, "Sign-in failed: the ID token does not match.", 400)
        # RFC 6749 §5.1: the scope granted is the token response's (here: its access token's).
        return claims, result.access_token.scopes

    @router.post("/console/logout")
    async def logout(request: Request) -> Response:
        admin = await console.admin(request)
        if isinstance(admin, Response):
            return admin
        form = await console.form(request, admin)
        if isinstance(form, Response):
            return form
        console.record(admin, "sign_out")
        response = console.render(None, "signed_out.html")
        console.cookies.clear(response, SESSION_COOKIE)
        return response

    @router.get("/console/signed-out")
    async def signed_out() -> Response:
        return console.render(None, "signed_out.html")

    return router
