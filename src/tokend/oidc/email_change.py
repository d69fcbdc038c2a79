"""Changing a user's e-mail address from ``/account``, proven by a link to the new address.

OWASP Authentication Cheat Sheet (changing a registered e-mail address) and NIST SP 800-63B
§6.1.2 (changes go through the address on file): the user re-authenticates first (the route
asks for the password); the address changes only when a one-time, short-lived link mailed to
the NEW address is opened, which also proves it (``email_verified``); the OLD address is told
(``TOLD_TO_USER``) so a hijacker cannot move the account away unnoticed.

One change is pending per user, kept with the pending sign-ins (``InteractionStore``: in the
database, never evicted) under a key of the user's own. A newer change replaces it and makes the
older link stop working twice over: its row is deleted, and each link starts with the id
(``ref``) of the change it confirms, which must still be the pending one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import PasswordHasher, random_id
from tokend.core.errors import Conflict
from tokend.jobs.base import Jobs
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.email_links import EmailLinks, LinkKind, Mail, masked_address
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import User
from tokend.oidc.stores import InteractionStore, UserRegistry

#: Mails the link to the new address; its arguments are the user id and the change's ``ref``
#: (job arguments are stored in clear: never the address, never the link).
EMAIL_CHANGE_JOB: Final = "oidc.email_change"
#: What the pages say when an address cannot become the user's: the same for an address of
#: another account and for one taken meanwhile (the account behind it is not told).
UNAVAILABLE: Final = "That address cannot be used for your account. Choose another one."
_KIND: Final = "email_change"
_REF_LENGTH: Final = len(random_id())


def _key(user_id: str) -> str:
    # 32 characters, the store's key length; never an interaction's uid (24 base32 characters).
    return "emailchange-" + hashlib.sha256(user_id.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class EmailChanges:
    users: UserRegistry
    passwords: PasswordHasher = field(repr=False)
    links: EmailLinks
    pending: InteractionStore
    limits: RateLimits
    jobs: Jobs
    audit: Audit
    clock: Clock

    async def request(self, user: User, password: str, new_email: str) -> bool:
        """Mail a link to ``new_email`` that makes it the user's address; any earlier pending
        change stops working. False when ``password`` is not the user's (re-authentication);
        raises RateLimited, or Conflict when the address is the user's own or another
        account's."""
        # Counted before the password is checked: a session found open cannot try passwords
        # here faster than the limit (OWASP Authentication Cheat Sheet, re-authentication).
        await self.limits.hit("email_change_per_user", user.id)
        if not await self.passwords.verify(password, user.password_hash):
            return False
        new_email = new_email.strip()
        if new_email.lower() == user.email.lower():
            raise Conflict("That is your address already.")
        if await self.users.by_email(new_email) is not None:
            raise Conflict(UNAVAILABLE)
        ref = random_id()
        expires_at = self.clock.now() + timedelta(seconds=self.links.settings.change_link_ttl_s)
        data = {"kind": _KIND, "user_id": user.id, "email": new_email, "ref": ref}
        await self.pending.save(_key(user.id), data, expires_at)
        await self.links.forget(LinkKind.CHANGE, user.id)
        # The old address is told first: the notice job reads the address on file when it
        # runs, and a queue starts jobs in order: it goes out before the link is even made.
        await self.audit.account_event(
            AuditEvent.EMAIL_CHANGE_REQUESTED, user.id, masked_address(new_email)
        )
        await self.jobs.enqueue(EMAIL_CHANGE_JOB, user_id=user.id, ref=ref)
        return True

    async def mail(self, user_id: str, ref: str) -> Mail | None:
        """The mail with the link to the new address (``EMAIL_CHANGE_JOB``); None when the
        change was superseded or expired, or the user is gone or disabled since."""
        new_email = await self._pending_address(user_id, ref)
        user = await self.users.by_id(user_id)
        if new_email is None or user is None or user.disabled:
            return None
        return await self.links.make_change(user_id, new_email, ref)

    async def confirm(self, token: str) -> User | None:
        """Use the link: the user's address becomes the new one, verified. None when the link
        does not work (used, expired, superseded); Conflict when the address was taken since."""
        user_id = await self.links.use(LinkKind.CHANGE, token)
        if user_id is None:
            return None
        new_email = await self._pending_address(user_id, token[:_REF_LENGTH])
        user = await self.users.by_id(user_id)
        if new_email is None or user is None or user.disabled:
            return None
        await self.pending.delete(_key(user_id))
        changed = dataclasses.replace(user, email=new_email, email_verified=True)
        try:
            await self.users.replace(changed)  # the unique key decides a race for the address
        except Conflict:
            raise Conflict(UNAVAILABLE) from None
        # Links mailed to the old address must not act on the account any more: a verification
        # link would now mark the new address verified, a reset link hand the account back.
        await self.links.forget(LinkKind.VERIFY, user_id)
        await self.links.forget(LinkKind.RESET, user_id)
        self.audit.record(AuditEvent.EMAIL_CHANGED, user_id=user_id)
        return changed

    async def _pending_address(self, user_id: str, ref: str) -> str | None:
        """The new address of the user's pending change, if ``ref`` names it."""
        data = await self.pending.load(_key(user_id), self.clock.now())
        if (
            data is None
            or data.get("kind") != _KIND
            or data.get("user_id") != user_id
            or not isinstance(data.get("ref"), str)
            or not isinstance(data.get("email"), str)
            or not hmac.compare_digest(str(data["ref"]), ref)
        ):
            return None
        return str(data["email"])
