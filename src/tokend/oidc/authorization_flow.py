"""What follows an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2): at each step of
an interaction, sign in, ask for consent, or send a code (or an error) back to the client.

The steps answer with an :data:`Outcome`; the routes turn it into a redirect or a page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_id, random_secret
from tokend.core.errors import AccessDenied, OAuthError, RateLimited
from tokend.core.jwt import SigningKey, mint
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.authn_context import acr_of
from tokend.oidc.authorization import AuthorizationRequest, UnmetAuthenticationRequirements
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.fapi import FAPI_CODE_TTL_S
from tokend.oidc.id_token_hints import IdTokenHints
from tokend.oidc.interactions import Interaction, Interactions
from tokend.oidc.pushed_requests import PushedRequests
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import AuthorizationCode, Client, DeviceAuthorization, Session, User
from tokend.oidc.request_objects import RequestObjects
from tokend.oidc.stores import (
    ClientStore,
    CodeStore,
    ConsentStore,
    DeviceCodeStore,
    GrantClaimsStore,
    UserStore,
)
from tokend.oidc.subjects import Subjects

#: JARM §2.1: a response JWT is short-lived (it is used at once).
JARM_TTL_S = 60


class LoginRequired(OAuthError):
    code = "login_required"
    default_description = "The user must sign in."


class ConsentRequired(OAuthError):
    code = "consent_required"
    default_description = "The user must consent."


@dataclass(frozen=True, slots=True)
class CodeIssued:
    """RFC 6749 §4.1.2: back to the client with a code."""

    redirect_uri: str
    code: str = field(repr=False)
    state: str | None
    response_mode: str = "query"
    #: JARM: the audience of a signed response.
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorToClient:
    """RFC 6749 §4.1.2.1: back to the client with an error."""

    redirect_uri: str
    error: OAuthError
    state: str | None
    response_mode: str = "query"
    #: JARM: the audience of a signed response.
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class AskUser:
    """The user must sign in or consent: on to the interaction's pages."""

    uid: str


@dataclass(frozen=True, slots=True)
class Stopped:
    """An error page; the client is not redirected to."""

    message: str
    status: int = 400
    title: str = "Something went wrong"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceDone:
    """RFC 8628 §3.3: the user approved or denied a device; a page says so."""

    approved: bool


Outcome = CodeIssued | ErrorToClient | AskUser | Stopped | DeviceDone


def _needs_mfa(ia: Interaction, client: Client) -> bool:
    """The client's ``require_mfa`` as it is now, or essential ``acr`` values none of which is
    the single-factor one (``Interaction.wants_mfa``)."""
    return client.require_mfa or ia.wants_mfa


def needs_login(ia: Interaction, session: Session | None, now: datetime) -> bool:
    if ia.user_id is not None:
        return False  # signed in during this very interaction
    # OIDC Core §3.1.2.1: select_account asks the user which account; until one is chosen
    # (``account_chooser``: several signed in on this browser) it is a fresh sign-in.
    if session is None or "login" in ia.prompts:
        return True
    if "select_account" in ia.prompts and not ia.account_chosen:
        return True
    # OIDC Core §3.1.2.1: an id_token_hint naming someone else than the signed-in user.
    if ia.hinted_user is not None and ia.hinted_user != session.user_id:
        return True
    # OIDC Core §3.1.2.1: max_age forces a fresh sign-in when the last one is too old.
    return ia.max_age_s is not None and now - session.auth_time > timedelta(seconds=ia.max_age_s)


@dataclass(frozen=True, slots=True)
class AuthorizationFlow:
    clients: ClientStore
    users: UserStore
    consents: ConsentStore
    codes: CodeStore
    sessions: BrowserSessions
    interactions: Interactions
    limits: RateLimits
    hasher: SecretHasher = field(repr=False)
    audit: Audit
    clock: Clock
    code_ttl_s: int
    devices: DeviceCodeStore
    hints: IdTokenHints
    pushed: PushedRequests
    request_objects: RequestObjects
    #: Signs JARM responses (the ID-token key).
    response_key: Callable[[], SigningKey]
    subjects: Subjects
    #: The FAPI 2.0 profile for every client (``oidc.fapi2``).
    fapi2: bool = False
    #: Keeps the UserInfo claims of a ``claims`` request with the grant (OIDC Core §5.5).
    grant_claims: GrantClaimsStore | None = None

    def _code_ttl_s(self, client: Client) -> int:
        # FAPI 2.0 SP §5.3.2.1-12: codes live at most 60 s.
        if self.fapi2 or client.fapi2_profile:
            return min(self.code_ttl_s, FAPI_CODE_TTL_S)
        return self.code_ttl_s

    def sign_response(self, client_id: str, params: Mapping[str, str | None]) -> str:
        """JARM §2.1: the authorization response as a JWT signed with the ID-token key, for
        the client (``aud``), short-lived."""
        now = int(self.clock.timestamp())
        claims: dict[str, object] = {k: v for k, v in params.items() if v is not None}
        claims.update(iss=self.hints.issuer, aud=client_id, exp=now + JARM_TTL_S, iat=now)
        return mint(claims, self.response_key())

    async def client(self, client_id: str | None) -> Client | None:
        return await self.clients.get(client_id) if client_id else None

    async def start(
        self, request: AuthorizationRequest, session_cookie: str | None, ip: str
    ) -> Outcome:
        """A new interaction, taken as far as it goes without the user; it is stored only if
        the user is needed, and one address may start only so many (``ip``)."""
        hinted_user = None
        if request.id_token_hint is not None:
            try:
                hinted_user = await self._hinted_user(
                    request.client, self.hints.subject(request.id_token_hint), session_cookie
                )
            except OAuthError as exc:
                return ErrorToClient(
                    request.redirect_uri,
                    exc,
                    request.state,
                    request.response_mode,
                    request.client.client_id,
                )
        ia = self.interactions.new(request, hinted_user)
        return await self._resume(ia, session_cookie, ip)

    async def start_device(
        self, device: DeviceAuthorization, session_cookie: str | None, ip: str
    ) -> Outcome:
        """The sign-in and consent that approve a device authorization (RFC 8628 §3.3)."""
        return await self._resume(self.interactions.for_device(device), session_cookie, ip)

    async def resume(self, ia: Interaction, session_cookie: str | None) -> Outcome:
        """Take a stored interaction as far as it goes without the user."""
        return await self._resume(ia, session_cookie, None)

    async def _hinted_user(self, client: Client, sub: str, session_cookie: str | None) -> str:
        """The user an id_token_hint's ``sub`` names: for a pairwise client, the signed-in user
        when the sub is theirs (§8.1 subjects cannot be reversed), else no user at all."""
        if client.subject_type != "pairwise":
            return sub
        session = await self.sessions.current(session_cookie)
        if session is not None and self.subjects.matches(client, session.user_id, sub):
            return session.user_id
        return "pairwise:" + sub  # names no user: a sign-in is needed

    async def interaction(self, uid: str) -> Interaction | None:
        return await self.interactions.load(uid)

    async def client_name(self, ia: Interaction) -> str:
        if ia.is_for_account:
            return "your account"
        client = await self.clients.get(ia.client_id)
        return client.name if client is not None else ia.client_id

    async def user_to_ask(self, ia: Interaction, session_cookie: str | None) -> User | None:
        """The signed-in user to ask for consent; None: the user must sign in first."""
        session = await self.sessions.current(session_cookie)
        if needs_login(ia, session, self.clock.now()):
            return None
        user_id = ia.user_id or (session.user_id if session else None)
        user = await self.users.by_id(user_id) if user_id else None
        return None if user is None or user.disabled else user

    async def consent(
        self, ia: Interaction, session_cookie: str | None, allow: bool
    ) -> Outcome | None:
        """The user's answer on the consent page; None: the user must sign in first."""
        session = await self.sessions.current(session_cookie)
        user_id = ia.user_id or (session.user_id if session else None)
        if user_id is None:
            return None
        if not allow and ia.device_code_hash is not None:
            await self.interactions.finish(ia.uid)
            now = self.clock.now()
            await self.devices.decide(ia.device_code_hash, user_id, now, False, now)
            return DeviceDone(approved=False)
        if not allow:
            await self.interactions.finish(ia.uid)
            denied = AccessDenied("The user denied the request.")
            return ErrorToClient(ia.redirect_uri, denied, ia.state, ia.response_mode, ia.client_id)
        allowed = ia.consent_scopes
        await self.consents.grant(user_id, ia.client_id, allowed, self.clock.now())
        self.audit.record(
            AuditEvent.CONSENT_GRANTED,
            client_id=ia.client_id,
            user_id=user_id,
            scope=" ".join(sorted(allowed)),
        )
        return await self.resume(
            dataclasses.replace(ia, consented=True, user_id=user_id), session_cookie
        )

    async def _resume(
        self, ia: Interaction, session_cookie: str | None, started_from: str | None
    ) -> Outcome:
        client = await self.clients.get(ia.client_id)
        if client is None:
            return Stopped("The application that sent you here is no longer known.")
        now = self.clock.now()
        session = await self.sessions.current(session_cookie)
        state = ia.state
        if needs_login(ia, session, now):
            if "none" in ia.prompts:
                await self.interactions.finish(ia.uid)
                return ErrorToClient(
                    ia.redirect_uri, LoginRequired(), state, ia.response_mode, ia.client_id
                )
            return await self._ask_user(ia, started_from)
        user_id = ia.user_id or (session.user_id if session else None)
        auth_time = datetime.fromisoformat(ia.auth_time) if ia.auth_time else None
        amr = ia.amr
        if auth_time is None and session is not None:
            auth_time, amr = session.auth_time, session.amr
        user = await self.users.by_id(user_id) if user_id else None
        if user is None or user.disabled or auth_time is None:
            return await self._ask_user(ia, started_from)
        if _needs_mfa(ia, client) and "mfa" not in amr:
            return await self._step_up(ia, started_from)
        if not ia.consented and not client.skip_consent:
            granted = await self.consents.granted(user.id, client.client_id)
            # OIDC Core §5.5: UserInfo claims beyond the scopes are released only with consent.
            if "consent" in ia.prompts or not ia.consent_scopes <= granted:
                if "none" in ia.prompts:
                    await self.interactions.finish(ia.uid)
                    return ErrorToClient(
                        ia.redirect_uri, ConsentRequired(), state, ia.response_mode, ia.client_id
                    )
                return await self._ask_user(ia, started_from)
        if ia.device_code_hash is not None:
            await self.interactions.finish(ia.uid)
            decided = await self.devices.decide(ia.device_code_hash, user.id, auth_time, True, now)
            if not decided:  # expired meanwhile, or decided in another window
                return Stopped("This device request has expired or was already answered.")
            return DeviceDone(approved=True)
        sid = self.sessions.sid_of(session_cookie) if session and session_cookie else None
        code = await self._issue_code(client, ia, user.id, auth_time, amr, sid)
        await self.interactions.finish(ia.uid)
        return CodeIssued(ia.redirect_uri, code, state, ia.response_mode, ia.client_id)

    async def _step_up(self, ia: Interaction, started_from: str | None) -> Outcome:
        """The sign-in does not meet the multi-factor requirement (the client's
        ``require_mfa``, or an essential ``acr``: OIDC Core §5.5.1.1). A session's earlier
        sign-in is asked again (the second factor comes after the password, or a passkey); a
        sign-in made just now that still has one factor means the user has no other: the client
        is told (Unmet Authentication Requirements 1.0 §2)."""
        if ia.user_id is None and "none" not in ia.prompts:
            again = dataclasses.replace(ia, prompts=tuple(sorted({*ia.prompts, "login"})))
            await self.interactions.save(again)  # the interaction page asks to sign in
            return await self._ask_user(again, started_from)
        await self.interactions.finish(ia.uid)
        error: OAuthError = (
            LoginRequired()
            if ia.user_id is None
            else UnmetAuthenticationRequirements(
                "this application needs a second factor or a passkey; add one on the account page"
            )
        )
        return ErrorToClient(ia.redirect_uri, error, ia.state, ia.response_mode, ia.client_id)

    async def _ask_user(self, ia: Interaction, started_from: str | None) -> Outcome:
        if started_from is not None:
            try:
                # Every pending sign-in is a database row: one address may start only so many.
                await self.limits.hit("interactions_per_ip", started_from)
            except RateLimited as exc:
                return Stopped(exc.description, 429, "Too many sign-in requests", exc.headers)
            await self.interactions.save(ia)
        return AskUser(ia.uid)

    async def _issue_code(
        self,
        client: Client,
        ia: Interaction,
        user_id: str,
        auth_time: datetime,
        amr: tuple[str, ...],
        sid: str | None,
    ) -> str:
        value = random_secret(32)
        now = self.clock.now()
        grant_id = random_id("g_")
        expires_at = now + timedelta(seconds=self._code_ttl_s(client))
        if ia.userinfo_claims and self.grant_claims is not None:
            # Until the code expires; its redemption keeps them as long as the tokens live.
            await self.grant_claims.save(grant_id, client.client_id, ia.userinfo_claims, expires_at)
        await self.codes.save(
            AuthorizationCode(
                code_hash=self.hasher.hash(value),
                grant_id=grant_id,
                client_id=client.client_id,
                user_id=user_id,
                redirect_uri=ia.redirect_uri,
                scopes=frozenset(ia.scopes),
                nonce=ia.nonce,
                code_challenge=ia.code_challenge,
                code_challenge_method=ia.code_challenge_method,
                auth_time=auth_time,
                # The sign-in's own acr (authn_context); acr_values are voluntary.
                acr=acr_of(amr),
                expires_at=expires_at,
                id_token_claims=ia.id_token_claims,
                dpop_jkt=ia.dpop_jkt,
                amr=amr,
                sid=sid,
            )
        )
        self.audit.record(AuditEvent.CODE_ISSUED, client_id=client.client_id, user_id=user_id)
        return value
