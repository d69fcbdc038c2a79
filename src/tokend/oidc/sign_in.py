"""Signing in with an email address and password during an interaction (throttled per address
and account by ``login_throttle``, never by locking the account)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokend.core.clock import Clock
from tokend.core.crypto import PasswordHasher, SecretHasher
from tokend.core.errors import RateLimited
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.interactions import Interaction, Interactions
from tokend.oidc.login_throttle import LoginThrottle
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import User
from tokend.oidc.stores import UserStore


@dataclass(frozen=True, slots=True)
class SignedIn:
    #: The interaction, now of the user (stored).
    interaction: Interaction
    #: The new session's cookie value.
    session_cookie: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SignIn:
    users: UserStore
    passwords: PasswordHasher
    sessions: BrowserSessions
    interactions: Interactions
    limits: RateLimits
    hasher: SecretHasher = field(repr=False)
    audit: Audit
    clock: Clock

    async def sign_in(self, ia: Interaction, email: str, password: str, ip: str) -> SignedIn | None:
        """A new session when ``password`` is the user's; None when it is not (or the account
        is unknown or disabled: the same answer). Raises RateLimited when ``ip`` must wait."""
        throttle = LoginThrottle(self.limits, self.hasher, ip, email)
        try:
            await throttle.admit()
        except RateLimited:
            self.audit.record(AuditEvent.LOGIN_FAILED, client_id=ia.client_id, reason="throttled")
            raise
        user = await self.users.by_email(email)
        if not await self._password_matches(user, password, ia.client_id) or user is None:
            await throttle.failed()
            return None
        now = self.clock.now()
        cookie = await self.sessions.start(user.id, now)
        self.audit.record(AuditEvent.LOGIN_SUCCEEDED, client_id=ia.client_id, user_id=user.id)
        signed_in = ia.signed_in(user.id, now)
        await self.interactions.save(signed_in)
        return SignedIn(signed_in, cookie)

    async def _password_matches(self, user: User | None, password: str, client_id: str) -> bool:
        """Whether ``password`` is the user's, and the user may sign in.

        An unknown address is checked against a dummy hash, so it takes as long as a real one;
        the answer is the same for unknown, disabled and wrong.
        """
        ok = await self.passwords.verify(password, user.password_hash if user else None)
        if ok and user is not None and not user.disabled:
            return True
        self.audit.record(
            AuditEvent.LOGIN_FAILED,
            client_id=client_id,
            user_id=user.id if user else None,
            reason="disabled" if ok else "bad_credentials",
        )
        return False
