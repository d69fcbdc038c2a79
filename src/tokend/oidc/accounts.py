"""What a signed-in user manages about their own account (``/account``) and an admin about any
(``/admin/users/{id}/...``): profile, password, second factors, sessions, apps with access.

Ending a session goes through ``BrowserSessions.end_by_sid`` (the one place sessions are ended
one by one), then back-channel logout tells the clients that got ID tokens in it; withdrawing an
app's access forgets the consent and revokes every token of the user's grants to it through
``GrantRevoker`` (refresh and opaque tokens in the store, JWT access tokens on the deny-list
every surface reads), as RFC 7009 revocation would.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import PasswordHasher, SecretHasher, random_id
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.backchannel_logout import BackchannelLogout
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.email_change import EmailChanges
from tokend.oidc.interactions import Interaction, Interactions
from tokend.oidc.passkeys import Ceremony, PasskeyRejected, Passkeys
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import Passkey, Session, User
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.second_factor import SecondFactors
from tokend.oidc.stores import ClientStore, ConsentStore, UserRegistry

_PASSKEY_REGISTRATION: Final = "passkey_registration"


@dataclass(frozen=True, slots=True)
class AppAccess:
    """An app the user allowed, as the account page lists it."""

    client_id: str
    name: str
    scopes: frozenset[str]
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class SignedInUser:
    user: User
    session: Session
    #: The session cookie's value (the page's CSRF token is derived from it).
    cookie: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Accounts:
    users: UserRegistry
    passwords: PasswordHasher
    sessions: BrowserSessions
    consents: ConsentStore
    clients: ClientStore
    grants: GrantRevoker
    factors: SecondFactors
    interactions: Interactions
    passkeys: Passkeys
    limits: RateLimits
    hasher: SecretHasher = field(repr=False)
    audit: Audit
    clock: Clock
    #: The user's own e-mail changes, confirmed from the new address.
    email_changes: EmailChanges
    #: Tells the clients that got ID tokens in an ended session (OpenID Back-Channel Logout).
    backchannel: BackchannelLogout | None = None

    async def start_sign_in(self, ip: str) -> Interaction:
        """A sign-in for the account pages themselves (the login and second-factor steps of
        any interaction); one address may start only so many. Raises RateLimited."""
        await self.limits.hit("interactions_per_ip", ip)
        ia = self.interactions.for_account()
        await self.interactions.save(ia)
        return ia

    def csrf_token(self, signed: SignedInUser) -> str:
        """The account forms' CSRF token: a keyed hash of the session cookie (synchronizer
        token bound to the session; no other cookie, nothing stored)."""
        return self.hasher.hash(f"account-csrf:{signed.cookie}").rsplit(".", 1)[-1]

    def csrf_matches(self, signed: SignedInUser, presented: str | None) -> bool:
        expected = self.csrf_token(signed)
        return bool(presented) and hmac.compare_digest(expected, presented or "")

    async def start_passkey_registration(self, signed: SignedInUser) -> tuple[Ceremony, str]:
        """Options for the browser to create a passkey, and the id of the ceremony (its
        challenge kept server-side, with the pending sign-ins, until it is used or expires)."""
        ceremony = await self.passkeys.registration(signed.user)
        ceremony_id = random_id()
        expires_at = self.clock.now() + timedelta(seconds=self.interactions.ttl_s)
        data = {"kind": _PASSKEY_REGISTRATION, "user_id": signed.user.id,
                "challenge": ceremony.challenge}  # fmt: skip
        await self.interactions.store.save(ceremony_id, data, expires_at)
        return ceremony, ceremony_id

    async def finish_passkey_registration(
        self, signed: SignedInUser, ceremony_id: str, credential: str, name: str
    ) -> Passkey:
        """Keep the passkey the browser created for this ceremony (used once). Raises
        PasskeyRejected, or Conflict when the credential is registered already."""
        if not ceremony_id or len(ceremony_id) > 32:
            raise PasskeyRejected("no such ceremony")
        data = await self.interactions.store.load(ceremony_id, self.clock.now())
        await self.interactions.store.delete(ceremony_id)  # one attempt per challenge
        if (
            data is None
            or data.get("kind") != _PASSKEY_REGISTRATION
            or data.get("user_id") != signed.user.id
            or not isinstance(data.get("challenge"), str)
        ):
            raise PasskeyRejected("no such ceremony")
        try:
            return await self.passkeys.register(
                signed.user, str(data["challenge"]), credential, name
            )
        except PasskeyRejected as exc:
            self.audit.record(AuditEvent.PASSKEY_REJECTED, user_id=signed.user.id, reason=str(exc))
            raise

    async def signed_in(self, cookie: str | None) -> SignedInUser | None:
        """The user of the browser's live session, unless disabled since."""
        session = await self.sessions.current(cookie)
        if session is None or cookie is None:
            return None
        user = await self.users.by_id(session.user_id)
        if user is None or user.disabled:
            return None
        return SignedInUser(user, session, cookie)

    async def update_profile(self, user: User, **fields: str | None) -> User:
        """Change the standard profile claims (OIDC Core §5.1) the user may set."""
        allowed = {"name", "given_name", "family_name", "locale"}
        changes = {k: (v or None) for k, v in fields.items() if k in allowed}
        updated = dataclasses.replace(user, **changes)  # type: ignore[arg-type]  # str | None
        await self.users.replace(updated)
        self.audit.record(AuditEvent.PROFILE_CHANGED, user_id=user.id)
        return updated

    async def password_matches(self, user: User, password: str) -> bool:
        """Re-authentication before a sensitive change."""
        return await self.passwords.verify(password, user.password_hash)

    async def change_password(self, user: User, new_password: str, device: str, ip: str) -> str:
        """Set the new password: every session ends and every grant is revoked (RFC 9700
        §4.14.2); this browser gets a new session, whose cookie is returned."""
        await self.users.set_password(user.id, await self.passwords.hash(new_password))
        revoked = await self.grants.revoke_user(user.id)
        await self.audit.account_event(AuditEvent.PASSWORD_CHANGED, user.id, "account")
        self.audit.record(
            AuditEvent.GRANTS_REVOKED, user_id=user.id, reason="password_changed", grants=revoked
        )
        now = self.clock.now()
        return await self.sessions.start(user.id, now, amr=("pwd",), device=device, ip=ip)

    async def sessions_of(self, user_id: str) -> list[Session]:
        return await self.sessions.of_user(user_id)

    async def end_session(self, user_id: str, sid: str, by: str) -> bool:
        """End one of the user's sessions by its public handle; whether it was live."""
        ended = await self.sessions.end_by_sid(user_id, sid)
        if ended is not None:
            self.audit.record(AuditEvent.SESSION_ENDED, user_id=user_id, by=by)
            if self.backchannel is not None and ended.sid:
                await self.backchannel.session_ended(user_id, sid=ended.sid)
        return ended is not None

    async def end_other_sessions(self, user_id: str, keep_sid: str, by: str) -> int:
        """End every session of the user but ``keep_sid``'s; how many."""
        ended = 0
        for session in await self.sessions.of_user(user_id):
            if session.sid != keep_sid and await self.end_session(user_id, session.sid, by):
                ended += 1
        return ended

    async def apps_of(self, user_id: str) -> list[AppAccess]:
        apps = []
        for consent in await self.consents.of_user(user_id):
            client = await self.clients.get(consent.client_id)
            name = client.name if client is not None else consent.client_id
            apps.append(AppAccess(consent.client_id, name, consent.scopes, consent.granted_at))
        return apps

    async def withdraw_access(self, user_id: str, client_id: str, by: str) -> bool:
        """Forget the consent and revoke every token of the user's grants to the client;
        whether there was a consent or a grant."""
        had_consent = await self.consents.withdraw(user_id, client_id)
        revoked = await self.grants.revoke_user(user_id, client_id)
        if had_consent or revoked:
            self.audit.record(
                AuditEvent.ACCESS_WITHDRAWN, user_id=user_id, client_id=client_id,
                grants=revoked, by=by,
            )  # fmt: skip
        return had_consent or revoked > 0
