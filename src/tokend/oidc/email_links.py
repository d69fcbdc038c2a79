"""Verification and password-reset mail: one-time, expiring links sent through the jobs.

A job gets only the kind of mail and the user id (queued job arguments are stored in clear);
it makes the link itself. The link carries a random token whose HMAC is kept in the cache until
it expires or is used once.
"""

from __future__ import annotations

import smtplib
import ssl
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from typing import Final

import anyio.to_thread
import structlog

from tokend.cache.tiered import TieredCache
from tokend.core.crypto import SecretHasher, random_secret
from tokend.oidc.domain import User
from tokend.oidc.settings import EmailSettings

log = structlog.get_logger("tokend.oidc.email")

SEND_EMAIL_JOB: Final = "oidc.send_email"


class LinkKind(StrEnum):
    RESET = "reset"
    VERIFY = "verify"


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


@dataclass(frozen=True, slots=True)
class EmailLinks:
    cache: TieredCache
    hasher: SecretHasher = field(repr=False)
    issuer: str
    settings: EmailSettings

    def _key(self, kind: LinkKind, token: str) -> str:
        return f"oidc:email-link:{kind.value}:{self.hasher.hash(token)}"

    async def make(self, kind: LinkKind, user: User) -> Mail:
        token = random_secret(32)
        ttl_s = (
            self.settings.reset_link_ttl_s
            if kind is LinkKind.RESET
            else self.settings.verify_link_ttl_s
        )
        await self.cache.set(self._key(kind, token), user.id.encode(), ttl_s)
        if kind is LinkKind.RESET:
            url = f"{self.issuer}/password/reset?token={token}"
            return Mail(user.email, "Reset your password",
                        f"Someone asked to reset the password of {user.email}.\n\n"
                        f"Choose a new one here within {ttl_s // 60} minutes:\n{url}\n\n"
                        "If it was not you, ignore this mail.")  # fmt: skip
        url = f"{self.issuer}/email/verify/confirm?token={token}"
        return Mail(user.email, "Verify your email address",
                    f"Confirm that {user.email} is yours:\n{url}\n")  # fmt: skip

    async def peek(self, kind: LinkKind, token: str) -> str | None:
        """The user id the link is for, if it is still valid; does not use it up."""
        if not token or len(token) > 128:
            return None
        value = await self.cache.get(self._key(kind, token))
        return value.decode() if value is not None else None

    async def use(self, kind: LinkKind, token: str) -> str | None:
        """The user id, once: the link stops working."""
        user_id = await self.peek(kind, token)
        if user_id is not None:
            await self.cache.delete(self._key(kind, token))
        return user_id
