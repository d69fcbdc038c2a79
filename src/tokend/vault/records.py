"""Values the vault's logic passes around: decrypted only in memory, never printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokend.vault.models import ConnectionStatus


@dataclass(frozen=True, slots=True)
class ClientRecord:
    id: int
    provider: str
    issuer: str | None
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    client_pk: int
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    scope: str | None
    expires_at: datetime | None
    status: ConnectionStatus
    generation: int
    failure_count: int
    last_error: str | None
    last_refreshed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_usable(self) -> bool:
        """Handed out to callers: active, or exhausted but not expired (checked by the caller)."""
        return self.status in (ConnectionStatus.ACTIVE, ConnectionStatus.REFRESH_EXHAUSTED)

    def expires_within(self, now: datetime, margin_s: float) -> bool:
        """Seed 001 ``is_token_expiring_soon``: a token without expiry never expires here."""
        return self.expires_at is not None and self.expires_at - now <= timedelta(seconds=margin_s)

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True)
class DueConnection:
    token_id: int
    client_pk: int
    generation: int
