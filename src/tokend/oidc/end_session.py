"""Ending a sign-in session: OpenID Connect RP-Initiated Logout 1.0.

An ID token naming the signed-in user (``id_token_hint``) shows that the relying party the user
is signed in to asks: the session ends at once. Without one, or with one naming someone else,
any page could send the browser here (logout CSRF), so the user is asked first (§2); the
confirmation form carries a token derived from the session cookie, which no other site knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher
from tokend.core.errors import InvalidToken
from tokend.core.jwt import KeySource, verify
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.backchannel_logout import BackchannelLogout
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.records import Session
from tokend.oidc.redirect_uris import is_allowed_redirect_uri
from tokend.oidc.stores import ClientStore, UserStore

#: RP-Initiated Logout §2: an expired ID token is still a fine hint of who is logging out.
HINT_LEEWAY_S = int(timedelta(days=365).total_seconds())
INVALID = "The sign-out request is not valid."


class LogoutRefused(Exception):
    """The request cannot be honoured; shown on a page, never redirected."""


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client_id: str | None
    #: The registered ``post_logout_redirect_uri`` to send the browser to afterwards.
    target: str | None
    state: str | None
    #: The user the ``id_token_hint`` names, when one was sent.
    hinted_user: str | None = None


@dataclass(frozen=True, slots=True)
class SignedInSession:
    cookie: str = field(repr=False)
    session: Session


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the confirmation page shows, and the token its form must carry back."""

    csrf_token: str = field(repr=False)
    client_name: str | None
    email: str


def must_confirm(wanted: LogoutRequest, signed_in: SignedInSession) -> bool:
    """RP-Initiated Logout §2: only an ID token of the signed-in user shows the request comes
    from a relying party of theirs; otherwise the user confirms."""
    return wanted.hinted_user != signed_in.session.user_id


@dataclass(frozen=True, slots=True)
class EndSession:
    keys: KeySource
    id_token_alg: str
    issuer: str
    clients: ClientStore
    users: UserStore
    sessions: BrowserSessions
    hasher: SecretHasher = field(repr=False)
    audit: Audit
    clock: Clock
    #: Tells the session's clients it ended (OpenID Back-Channel Logout).
    backchannel: BackchannelLogout | None = None

    async def request(
        self,
        client_id: str | None,
        id_token_hint: str | None,
        target: str | None,
        state: str | None,
    ) -> LogoutRequest:
        """The checked request; raises LogoutRefused."""
        hinted_user = None
        if id_token_hint is not None:
            try:
                claims = verify(
                    id_token_hint,
                    self.keys,
                    algorithms=frozenset({self.id_token_alg}),
                    issuer=self.issuer,
                    audience=None,
                    typ="JWT",
                    leeway_s=HINT_LEEWAY_S,
                    clock=self.clock,
                )
            except InvalidToken:
                raise LogoutRefused(INVALID) from None
            audience = claims.audience
            if client_id is not None and client_id not in audience:
                raise LogoutRefused(INVALID)
            client_id = client_id or (audience[0] if audience else None)
            hinted_user = claims.subject
        if target is not None:
            client = await self.clients.get(client_id) if client_id else None
            # Never redirect to an address the client did not register (§3), nor to one the
            # registration check would refuse now (stored before it existed).
            if (
                client is None
                or target not in client.post_logout_redirect_uris
                or not is_allowed_redirect_uri(target)
            ):
                raise LogoutRefused("The address to return to after signing out is not registered.")
        return LogoutRequest(client_id, target, state, hinted_user)

    async def signed_in(self, session_cookie: str | None) -> SignedInSession | None:
        session = await self.sessions.current(session_cookie)
        if session is None or session_cookie is None:
            return None
        return SignedInSession(session_cookie, session)

    async def confirmation(self, wanted: LogoutRequest, signed_in: SignedInSession) -> Confirmation:
        client = await self.clients.get(wanted.client_id) if wanted.client_id else None
        user = await self.users.by_id(signed_in.session.user_id)
        return Confirmation(
            csrf_token=self.hasher.hash(_csrf_material(signed_in)),
            client_name=client.name if client is not None else None,
            email=user.email if user is not None else "",
        )

    def confirmed(self, signed_in: SignedInSession, csrf_token: str) -> bool:
        """Whether the confirmation form is the one shown to this very session."""
        return self.hasher.verify(_csrf_material(signed_in), csrf_token)

    async def end(self, wanted: LogoutRequest, signed_in: SignedInSession | None) -> None:
        user_id = None
        if signed_in is not None:
            user_id = signed_in.session.user_id
            await self.sessions.end(signed_in.cookie)
            if self.backchannel is not None:
                sid = self.sessions.sid_of(signed_in.cookie)
                await self.backchannel.session_ended(user_id, sid)
        self.audit.record(AuditEvent.LOGOUT, client_id=wanted.client_id, user_id=user_id)


def _csrf_material(signed_in: SignedInSession) -> str:
    """What the confirmation's CSRF token is the HMAC of: bound to this very session."""
    return f"logout-confirmation:{signed_in.cookie}"
