"""Self sign-up (``/sign-up``, when ``oidc.accounts.self_sign_up`` is on).

A new account starts with its address unverified and is mailed a verification link (the one
``/email/verify`` sends). An address that has an account already gets no second one: the page
answers exactly as to a fresh sign-up, and the owner is mailed what happened instead (OWASP
Authentication Cheat Sheet, account enumeration; OWASP ASVS V2.2). The password is hashed on
both paths, so neither does the time of the answer tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from tokend.core.crypto import PasswordHasher, random_id
from tokend.core.errors import Conflict
from tokend.jobs.base import Jobs
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.email_links import SEND_EMAIL_JOB, LinkKind, Mail, account_exists_mail
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import User
from tokend.oidc.stores import UserRegistry

#: Tells the owner of an address someone tried to sign up with (arguments: the user id).
SIGN_UP_NOTICE_JOB: Final = "oidc.sign_up_notice"


@dataclass(frozen=True, slots=True)
class SignUp:
    users: UserRegistry
    passwords: PasswordHasher = field(repr=False)
    limits: RateLimits
    jobs: Jobs
    audit: Audit
    issuer: str

    async def sign_up(self, email: str, name: str | None, password: str, ip: str) -> None:
        """Create an unverified account and queue its verification mail, or, when the address
        has an account, queue the mail that tells its owner. Raises RateLimited."""
        await self.limits.hit("sign_up_per_ip", ip)
        email = email.strip()
        password_hash = await self.passwords.hash(password)
        existing = await self.users.by_email(email)
        if existing is None:
            user = User(
                id=random_id("u_"),
                email=email,
                email_verified=False,
                name=name or None,
                password_hash=password_hash,
            )
            try:
                await self.users.add(user)
            except Conflict:  # the same address signed up at the same moment
                existing = await self.users.by_email(email)
            else:
                self.audit.record(AuditEvent.SIGNED_UP, user_id=user.id)
                await self.jobs.enqueue(SEND_EMAIL_JOB, kind=LinkKind.VERIFY.value, user_id=user.id)
                return
        if existing is not None and not existing.disabled:
            self.audit.record(AuditEvent.SIGN_UP_ADDRESS_TAKEN, user_id=existing.id)
            await self.jobs.enqueue(SIGN_UP_NOTICE_JOB, user_id=existing.id)

    async def notice(self, user_id: str) -> Mail | None:
        """The mail to the owner of an address someone tried to sign up with
        (``SIGN_UP_NOTICE_JOB``); None when the user is gone or disabled since."""
        user = await self.users.by_id(user_id)
        if user is None or user.disabled:
            return None
        return account_exists_mail(user, self.issuer)
