"""Account self-service: password reset and email verification by one-time mail links.

Asking for a link never tells whether the address has an account: the answer is the same, and
the mail is sent by a job (``SEND_EMAIL_JOB``) that gets only the kind of mail and the user id.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokend.core.crypto import PasswordHasher
from tokend.jobs.base import Jobs
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.backchannel_logout import BackchannelLogout
from tokend.oidc.email_links import SEND_EMAIL_JOB, EmailLinks, LinkKind, Mail, notice_mail
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.stores import UserAccounts


@dataclass(frozen=True, slots=True)
class SelfService:
    users: UserAccounts
    passwords: PasswordHasher
    links: EmailLinks
    limits: RateLimits
    jobs: Jobs
    grants: GrantRevoker
    audit: Audit
    #: Tells the user's clients their sessions ended (OpenID Back-Channel Logout).
    backchannel: BackchannelLogout | None = None

    async def send_link(self, kind: LinkKind, email: str) -> None:
        """Queue a mail with a link when the address has an active account; nothing else tells
        whether it has. Raises RateLimited when the address asked too often."""
        await self.limits.hit("password_reset_per_account", f"{kind}:{email.lower()}")
        user = await self.users.by_email(email)
        if user is not None and not user.disabled:
            await self.jobs.enqueue(SEND_EMAIL_JOB, kind=kind.value, user_id=user.id)
            if kind is LinkKind.RESET:
                self.audit.record(AuditEvent.PASSWORD_RESET_REQUESTED, user_id=user.id)

    async def mail(self, kind: LinkKind, user_id: str) -> Mail | None:
        """The mail with a new link for the user (``SEND_EMAIL_JOB``); None when the user is
        gone or disabled since the link was asked for."""
        user = await self.users.by_id(user_id)
        if user is None or user.disabled:
            return None
        return await self.links.make(kind, user)

    async def notice(self, event: str, user_id: str, detail: str) -> Mail | None:
        """The mail telling the user about a security event on their account
        (``SECURITY_NOTICE_JOB``); None when the user is gone or disabled since, or their address
        is not verified (it may not be theirs: it is told nothing about the account)."""
        user = await self.users.by_id(user_id)
        if user is None or user.disabled or not user.email_verified:
            return None
        return notice_mail(AuditEvent(event), detail, user, self.links.issuer, self.links.clock)

    async def is_live_link(self, kind: LinkKind, token: str) -> bool:
        """Whether the link still works; does not use it up."""
        return await self.links.peek(kind, token) is not None

    async def reset_password(self, token: str, password: str) -> bool:
        """Use the reset link to set ``password``; False when the link does not work."""
        user_id = await self.links.use(LinkKind.RESET, token)
        user = await self.users.by_id(user_id) if user_id else None
        if user is None:
            return False
        await self.users.set_password(user.id, await self.passwords.hash(password))
        await self.links.forget(LinkKind.RESET, user.id)  # any other reset link too
        await self.audit.account_event(AuditEvent.PASSWORD_CHANGED, user.id, "reset")
        # RFC 9700 §4.14.2: whoever held the old password keeps no grant.
        revoked = await self.grants.revoke_user(user.id)
        self.audit.record(
            AuditEvent.GRANTS_REVOKED, user_id=user.id, reason="password_reset", grants=revoked
        )
        if self.backchannel is not None:
            await self.backchannel.session_ended(user.id)  # set_password ended every session
        return True

    async def verify_email(self, token: str) -> bool:
        """Use the verification link; False when it does not work."""
        user_id = await self.links.use(LinkKind.VERIFY, token)
        if user_id is None or not await self.users.mark_verified(user_id):
            return False
        self.audit.record(AuditEvent.EMAIL_VERIFIED, user_id=user_id)
        return True
