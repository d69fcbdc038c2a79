"""Verification and password-reset mail: one-time, expiring links sent through the jobs.

A job gets only the kind of mail and the user id (queued job arguments are stored in clear);
it makes the link itself. The link carries a random token whose HMAC is kept in the database
(``EmailLinkStore``) until it expires or is used once: not in the cache, where a flood of other
entries could evict it (and a restart of a memory-only process lose it).
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Final

import anyio.to_thread
import structlog

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_secret
from tokend.oidc.audit import AuditEvent
from tokend.oidc.known_devices import NewDevice
from tokend.oidc.records import User
from tokend.oidc.settings import EmailSettings
from tokend.oidc.stores import EmailLinkStore

log = structlog.get_logger("tokend.oidc.email")

SEND_EMAIL_JOB: Final = "oidc.send_email"
#: Tells a user about a security event on their account (``audit.TOLD_TO_USER``).
SECURITY_NOTICE_JOB: Final = "oidc.security_notice"

#: What each told event says happened; ``{what}`` is the factor or who did it.
_NOTICES: Final[Mapping[AuditEvent, tuple[str, str]]] = {
    AuditEvent.PASSWORD_CHANGED: (
        "Your password was changed",
        "The password of {email} was changed{what} on {when}. Every session was signed out and "
        "every app has to sign in again.",
    ),
    AuditEvent.FACTOR_ENROLLED: (
        "A sign-in method was added to your account",
        "{what} was added to {email} on {when}.",
    ),
    AuditEvent.FACTOR_REMOVED: (
        "A sign-in method was removed from your account",
        "{what} was removed from {email} on {when}.",
    ),
    AuditEvent.RECOVERY_CODES_MADE: (
        "New recovery codes for your account",
        "New recovery codes were made for {email} on {when}; the earlier ones no longer work.",
    ),
    AuditEvent.RECOVERY_CODE_USED: (
        "A recovery code was used to sign in",
        "A recovery code of {email} was used to sign in on {when}.",
    ),
    AuditEvent.EMAIL_CHANGE_REQUESTED: (
        "Your email address is being changed",
        "On {when}, someone signed in to the account of {email} asked to change its email "
        "address to {what}. It changes once the link sent to that address is opened.",
    ),
    AuditEvent.UPSTREAM_LINKED: (
        "A sign-in method was added to your account",
        "Signing in with {what} was linked to {email} on {when}.",
    ),
    AuditEvent.UPSTREAM_UNLINKED: (
        "A sign-in method was removed from your account",
        "Signing in with {what} was unlinked from {email} on {when}.",
    ),
    AuditEvent.NEW_DEVICE_SIGN_IN: (
        "New sign-in to your account",
        "Someone signed in to {email} on {when} from a browser or device that had not signed "
        "in to it before: {what}.",
    ),
}
#: Events whose ``detail`` is an upstream's display name (from the settings), said as it is.
_UPSTREAM_EVENTS: Final = frozenset({AuditEvent.UPSTREAM_LINKED, AuditEvent.UPSTREAM_UNLINKED})
#: ``detail`` as the notice words it.
_WHAT: Final[Mapping[str, str]] = {
    "passkey": "A passkey",
    "totp": "An authenticator app (and its recovery codes)",
    "account": " on your account page",
    "reset": " with a password-reset link",
    "admin": " by an administrator",
}


class LinkKind(StrEnum):
    RESET = "reset"
    VERIFY = "verify"
    #: Confirms a new address (``EmailChanges``); the kind column holds at most 8 characters.
    CHANGE = "change"


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str = field(repr=False)


class Mailer:
    """Sends through SMTP (stdlib smtplib in a worker thread), prints, or drops."""

    def __init__(self, settings: EmailSettings, demo: bool) -> None:
        self._settings = settings
        backend = settings.backend
        if backend == "auto":
            backend = "console" if demo else ("smtp" if settings.smtp_host else "disabled")
        self.backend = backend

    async def send(self, mail: Mail) -> None:
        if self.backend == "disabled":
            log.warning("email.not_sent", reason="no email backend configured")
            return
        if self.backend == "console":
            # Demo mode only: the console is the inbox. Not a log event: links are secrets.
            print(f"\n--- mail to {mail.to}: {mail.subject}\n{mail.body}\n---", file=sys.stderr)
            return
        await anyio.to_thread.run_sync(self._send_smtp, mail)
        log.info("email.sent", subject=mail.subject)

    def _send_smtp(self, mail: Mail) -> None:
        s = self._settings
        if s.smtp_host is None:
            raise RuntimeError("TOKEND_OIDC__EMAIL__SMTP_HOST is not set")
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = s.sender, mail.to, mail.subject
        message.set_content(mail.body)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password is not None:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def notice_mail(event: AuditEvent, detail: str, user: User, issuer: str, clock: Clock) -> Mail:
    """The mail that tells ``user`` about ``event`` on their account: what happened and when,
    and what to do if it was not them. No link that acts by itself: the pages ask them to sign
    in (or to ask for a reset link) first."""
    subject, text = _NOTICES[event]
    when = clock.now().strftime("%Y-%m-%d %H:%M UTC")
    factor = event in (AuditEvent.FACTOR_ENROLLED, AuditEvent.FACTOR_REMOVED)
    what = _WHAT.get(detail, "A sign-in method" if factor else "")
    if event is AuditEvent.EMAIL_CHANGE_REQUESTED:
        what = detail  # the new address, masked (``masked_address``)
    if event in _UPSTREAM_EVENTS:
        what = detail  # the upstream's name
    if event is AuditEvent.NEW_DEVICE_SIGN_IN:
        # The time of the sign-in itself (the job may run later), where and with what.
        sign_in = NewDevice.of(detail)
        when = sign_in.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = f"{sign_in.device}, from the IP address {sign_in.ip}"
    happened = text.format(email=user.email, when=when, what=what)
    return Mail(user.email, subject,
                f"{happened}\n\nIf it was you, nothing more is needed.\n\n"
                f"If it was not you, reset your password now: {issuer}/password/forgot\n"
                f"and review your sign-in methods and sessions: {issuer}/account\n")  # fmt: skip


def masked_address(email: str) -> str:
    """``n***@example.org``: enough for the owner to recognise, not to learn an address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def account_exists_mail(user: User, issuer: str) -> Mail:
    """Told to the owner of an address someone tried to sign up with: the page answered as to
    a fresh sign-up (no account enumeration, OWASP Authentication Cheat Sheet), so the owner
    learns it here, with the way back in if it was them. No link that acts by itself."""
    return Mail(user.email, "Someone tried to sign up with your email address",
                f"Someone tried to create an account with {user.email}, which has one already. "
                "No new account was made.\n\n"
                f"If it was you, sign in with your password, or reset it here: "
                f"{issuer}/password/forgot\n\n"
                "If it was not you, ignore this mail: nothing changed.\n")  # fmt: skip


@dataclass(frozen=True, slots=True)
class EmailLinks:
    store: EmailLinkStore
    hasher: SecretHasher = field(repr=False)
    clock: Clock
    issuer: str
    settings: EmailSettings

    async def make(self, kind: LinkKind, user: User) -> Mail:
        token = random_secret(32)
        ttl_s = (
            self.settings.reset_link_ttl_s
            if kind is LinkKind.RESET
            else self.settings.verify_link_ttl_s
        )
        expires_at = self.clock.now() + timedelta(seconds=ttl_s)
        await self.store.add(self.hasher.hash(token), kind.value, user.id, expires_at)
        if kind is LinkKind.RESET:
            url = f"{self.issuer}/password/reset?token={token}"
            return Mail(user.email, "Reset your password",
                        f"Someone asked to reset the password of {user.email}.\n\n"
                        f"Choose a new one here within {ttl_s // 60} minutes:\n{url}\n\n"
                        "If it was not you, ignore this mail.")  # fmt: skip
        url = f"{self.issuer}/email/verify/confirm?token={token}"
        return Mail(user.email, "Verify your email address",
                    f"Confirm that {user.email} is yours:\n{url}\n")  # fmt: skip

    async def make_change(self, user_id: str, new_email: str, ref: str) -> Mail:
        """The mail to ``new_email`` with the one-time link that makes it the user's address.
        The token starts with ``ref``, the id of the change it confirms (``EmailChanges``)."""
        token = ref + random_secret(32)
        ttl_s = self.settings.change_link_ttl_s
        expires_at = self.clock.now() + timedelta(seconds=ttl_s)
        await self.store.add(self.hasher.hash(token), LinkKind.CHANGE.value, user_id, expires_at)
        url = f"{self.issuer}/account/email/confirm?token={token}"
        return Mail(new_email, "Confirm your new email address",
                    f"Someone asked to use {new_email} as the email address of their account.\n\n"
                    f"If it was you, confirm it here within {ttl_s // 60} minutes:\n{url}\n\n"
                    "If it was not you, ignore this mail: nothing changes.")  # fmt: skip

    async def peek(self, kind: LinkKind, token: str) -> str | None:
        """The user id the link is for, if it is still valid; does not use it up."""
        if not token or len(token) > 128:
            return None
        return await self.store.find(self.hasher.candidates(token), kind.value, self.clock.now())

    async def use(self, kind: LinkKind, token: str) -> str | None:
        """The user id, once: the link stops working."""
        if not token or len(token) > 128:
            return None
        return await self.store.use(self.hasher.candidates(token), kind.value, self.clock.now())

    async def forget(self, kind: LinkKind, user_id: str) -> None:
        """Every link of that kind the user still has stops working (a new password)."""
        await self.store.forget_user(user_id, kind.value)

    async def purge(self) -> int:
        """Delete the expired links (idempotent across replicas); how many."""
        return await self.store.purge(self.clock.now())
