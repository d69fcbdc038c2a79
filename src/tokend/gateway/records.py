"""The plain values the gateway's stores and sources take and return."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Credential:
    """A consumer's JWT credential (Kong's ``jwt`` credential, or a standalone consumer's)."""

    consumer_id: str
    #: Kong's credential ``key``: the claim Kong's jwt plugin looks the credential up by.
    key: str
    #: HMAC key of HS256 tokens, used as UTF-8 bytes exactly as Kong's jwt plugin does.
    secret: str = field(repr=False)
    #: Known for standalone consumers; Kong's credential does not carry it.
    username: str | None = None


@dataclass(frozen=True, slots=True)
class ConsumerRecord:
    """A standalone consumer as the admin API and the CLI list it (never its secret)."""

    consumer_id: str
    username: str
    key: str
    api_key_hash: str = field(repr=False)
    created_at: datetime
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
