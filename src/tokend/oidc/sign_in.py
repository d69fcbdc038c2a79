"""Signing in with an email address and password during an interaction (throttled per address
and account by ``login_throttle``, never by locking the account), then, for a user with an
authenticator, a second factor (``second_factor``) before the session starts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tokend.core.clock import Clock
from tokend.core.crypto import PasswordHasher, SecretHasher
from tokend.core.errors import RateLimited
from tokend.oidc.amr import Factor, amr_after_upstream, amr_of
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.interactions import Interaction, Interactions
from tokend.oidc.known_devices import KnownDevices
from tokend.oidc.login_throttle import LoginThrottle
from tokend.oidc.passkeys import PasskeyRejected, Passkeys
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import User
from tokend.oidc.second_factor import SecondFactors
from tokend.oidc.stores import UserStore


@dataclass(frozen=True, slots=True)
class SignedIn:
    #: The interaction, now of the user (stored).
    interaction: Interaction
    #: The new session's cookie value.
    session_cookie: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The password was right; the user must now give a code (the interaction, stored)."""

    interaction: Interaction


@dataclass(frozen=True, slots=True)
class SecondFactorChoices:
    #: The user has an authenticator app (and so recovery codes).
    totp: bool
    #: WebAuthn options for one of the user's passkeys; None when they have none.
    passkey_options: str | None = None


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
    factors: SecondFactors
    passkeys: Passkeys
    devices: KnownDevices

    async def browser_seen(
        self, signed_in: SignedIn, device_cookie: str | None, ip: str, user_agent: str
    ) -> str:
        """After any sign-in of an interaction: remember the browser, telling the user when it
        is new to the account (``known_devices``); the device cookie's value to set."""
        ia = signed_in.interaction
        assert ia.user_id is not None  # signed in
        return await self.devices.signed_in(
            ia.user_id, device_cookie, self.clock.now(), ip, user_agent
        )

    async def passkey_options(self, ia: Interaction) -> str:
        """The options of a passkey sign-in for the login page; its challenge is kept in the
        interaction (one at a time, used once)."""
        ceremony = self.passkeys.authentication()
        await self.interactions.save(replace(ia, passkey_challenge=ceremony.challenge))
        return ceremony.options_json

    async def sign_in_with_passkey(
        self, ia: Interaction, credential: str, ip: str, device: str = ""
    ) -> SignedIn | None:
        """A new session when ``credential`` is a valid assertion of a registered passkey for
        this interaction's challenge, with user verification (passwordless: §7.2 step 17);
        None otherwise. Raises RateLimited when ``ip`` must wait."""
        await self.limits.hit("login_per_ip", ip)
        challenge = ia.passkey_challenge
        if challenge is None:
            return None
        ia = replace(ia, passkey_challenge=None)
        await self.interactions.save(ia)  # the challenge is used, whatever the outcome
        try:
            proved = await self.passkeys.authenticate(challenge, credential)
        except PasskeyRejected as exc:
            self.audit.record(
                AuditEvent.LOGIN_FAILED, client_id=ia.client_id, reason="passkey_rejected",
                detail=str(exc),
            )  # fmt: skip
            return None
        user = await self.users.by_id(proved.user_id)
        if user is None or user.disabled:
            self.audit.record(AuditEvent.LOGIN_FAILED, client_id=ia.client_id, reason="disabled")
            return None
        factor = Factor.PASSKEY_USER_VERIFIED if proved.user_verified else Factor.PASSKEY
        return await self._start(ia, user.id, (factor,), ip, device)

    async def sign_in(
        self, ia: Interaction, email: str, password: str, ip: str, device: str = ""
    ) -> SignedIn | SecondFactorNeeded | None:
        """A new session when ``password`` is the user's, or, for a user with a second factor,
        the step that asks for it; None when it is not (or the account is unknown or disabled:
        the same answer). Raises RateLimited when ``ip`` must wait."""
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
        # A second factor: always for a user with an authenticator app; for one with a passkey
        # when this sign-in must be multi-factor (the passkey after the password).
        if await self.factors.is_required(user.id) or (
            ia.wants_mfa and await self.passkeys.of_user(user.id)
        ):
            pending = ia.awaiting_second_factor(user.id)
            await self.interactions.save(pending)
            return SecondFactorNeeded(pending)
        return await self._start(ia, user.id, (Factor.PASSWORD,), ip, device)

    async def second_factor(
        self, ia: Interaction, code: str, ip: str, device: str = ""
    ) -> SignedIn | None:
        """The session once ``code`` (TOTP or recovery) proves the second factor of the user
        whose password was right in this interaction; None when it does not. Raises
        RateLimited when ``ip`` must wait (``SecondFactors``)."""
        user = await self.users.by_id(ia.pending_user_id) if ia.pending_user_id else None
        if user is None or user.disabled:
            return None
        factor = await self.factors.verify(user.id, code, ip)
        if factor is None:
            return None
        return await self._second_step_done(ia, user.id, factor, ip, device)

    async def second_factor_choices(self, ia: Interaction) -> SecondFactorChoices:
        """What the second-factor step offers the user whose password was right: the code of
        their authenticator app (and recovery codes), and their passkeys (the options, with a
        challenge kept in the interaction, one at a time and used once)."""
        user_id = ia.pending_user_id
        if user_id is None:
            return SecondFactorChoices(totp=False)
        totp = (await self.factors.status(user_id)).totp
        ceremony = await self.passkeys.second_factor(user_id)
        if ceremony is None:
            return SecondFactorChoices(totp=totp)
        await self.interactions.save(replace(ia, passkey_challenge=ceremony.challenge))
        return SecondFactorChoices(totp=totp, passkey_options=ceremony.options_json)

    async def second_factor_with_passkey(
        self, ia: Interaction, credential: str, ip: str, device: str = ""
    ) -> SignedIn | None:
        """The session once ``credential`` is an assertion of one of the passkeys of the user
        whose password was right in this interaction, for the challenge of the second-factor
        page; None when it is not. Raises RateLimited when ``ip`` must wait."""
        await self.limits.hit("login_per_ip", ip)
        user = await self.users.by_id(ia.pending_user_id) if ia.pending_user_id else None
        challenge = ia.passkey_challenge
        if user is None or user.disabled or challenge is None:
            return None
        await self.interactions.save(replace(ia, passkey_challenge=None))  # used, whatever comes
        try:
            proved = await self.passkeys.authenticate(
                challenge, credential, require_user_verification=False
            )
        except PasskeyRejected as exc:
            reason = "passkey_rejected"
            self.audit.record(
                AuditEvent.SECOND_FACTOR_FAILED, client_id=ia.client_id, user_id=user.id,
                reason=reason, detail=str(exc),
            )  # fmt: skip
            return None
        if proved.user_id != user.id:  # another user's passkey proves nothing for this one
            self.audit.record(
                AuditEvent.SECOND_FACTOR_FAILED, client_id=ia.client_id, user_id=user.id,
                reason="passkey_of_another_user",
            )  # fmt: skip
            return None
        factor = Factor.PASSKEY_USER_VERIFIED if proved.user_verified else Factor.PASSKEY
        return await self._second_step_done(ia, user.id, factor, ip, device)

    async def sign_in_upstream(
        self,
        ia: Interaction,
        upstream_id: str,
        user_id: str,
        amr: tuple[str, ...],
        ip: str,
        device: str = "",
    ) -> SignedIn | SecondFactorNeeded | None:
        """A new session of ``user_id``, whom an upstream identity provider signed in
        (``upstreams.brokering``) with RFC 8176 methods ``amr``, or, for a user with a second
        factor here, the step that asks for it (unless the upstream said ``mfa``: a second
        factor was proved there); None when the account is disabled. The rest of the flow
        (consent, step-up by ``require_mfa`` or an essential ``acr``) is the password
        sign-in's: ``AuthorizationFlow.resume``."""
        user = await self.users.by_id(user_id)
        if user is None or user.disabled:
            self.audit.record(AuditEvent.LOGIN_FAILED, client_id=ia.client_id, reason="disabled")
            return None
        self.audit.record(
            AuditEvent.UPSTREAM_SIGNED_IN, client_id=ia.client_id, user_id=user.id,
            upstream=upstream_id, amr=" ".join(amr),
        )  # fmt: skip
        if "mfa" not in amr and await self.factors.is_required(user.id):
            pending = ia.awaiting_second_factor(user.id, amr)
            await self.interactions.save(pending)
            return SecondFactorNeeded(pending)
        return await self._start_with(ia, user.id, amr, ip, device)

    async def _second_step_done(
        self, ia: Interaction, user_id: str, factor: Factor, ip: str, device: str
    ) -> SignedIn:
        """The session once ``factor`` proved the second step after the first one: the
        password, or an upstream's sign-in (``sign_in_upstream`` keeps its ``amr``)."""
        if ia.amr:
            return await self._start_with(
                ia, user_id, tuple(amr_after_upstream(ia.amr, factor)), ip, device
            )
        return await self._start(ia, user_id, (Factor.PASSWORD, factor), ip, device)

    async def _start(
        self, ia: Interaction, user_id: str, factors: tuple[Factor, ...], ip: str, device: str
    ) -> SignedIn:
        return await self._start_with(ia, user_id, tuple(amr_of(factors)), ip, device)

    async def _start_with(
        self, ia: Interaction, user_id: str, amr: tuple[str, ...], ip: str, device: str
    ) -> SignedIn:
        now = self.clock.now()
        cookie = await self.sessions.start(user_id, now, amr=amr, device=device, ip=ip)
        self.audit.record(AuditEvent.LOGIN_SUCCEEDED, client_id=ia.client_id, user_id=user_id)
        signed_in = ia.signed_in(user_id, now, amr)
        await self.interactions.save(signed_in)
        return SignedIn(signed_in, cookie)

    async def _password_matches(self, user: User | None, password: str, client_id: str) -> bool:
        """Whether ``password`` is the user's, and the user may sign in.

        An unknown address is checked against a dummy hash, so it takes as long as a real one;
        the answer is the same for unknown, disabled and wrong.
        """
        # An account without a password (made at a first upstream sign-in) is checked against
        # the dummy hash too: it takes as long, and never matches.
        ok = await self.passwords.verify(password, (user.password_hash or None) if user else None)
        if ok and user is not None and not user.disabled:
            if self.passwords.needs_rehash(user.password_hash):
                # The hashing costs changed (oidc.accounts.argon2_*): the password is at hand
                # only now, at a sign-in, to be hashed again with them (RFC 9106 §4).
                rehashed = await self.passwords.hash(password)
                await self.users.rehash_password(user.id, user.password_hash, rehashed)
            return True
        self.audit.record(
            AuditEvent.LOGIN_FAILED,
            client_id=client_id,
            user_id=user.id if user else None,
            reason="disabled" if ok else "bad_credentials",
        )
        return False
