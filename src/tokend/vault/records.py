"""Values the vault's stores take and return: plain, decrypted only in memory, never printed.

Updates name only what changes: a field left at ``KEEP`` stays as stored, and for the fields
that may be empty, ``None`` clears them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Final


class ConnectionStatus(StrEnum):
    """Where a stored token stands. Only ``active`` tokens are handed out or refreshed."""

    ACTIVE = "active"
    #: The provider answered ``invalid_grant``: the user must connect again.
    BROKEN = "broken"
    #: Too many transient refresh failures in a row: the refresher stopped trying.
    REFRESH_EXHAUSTED = "refresh_exhausted"
    REVOKED = "revoked"
    #: Replaced by a newer token of the same client.
    SUPERSEDED = "superseded"


class Unchanged(Enum):
    """The type of ``KEEP``: an update leaves this field as it is."""

    KEEP = "keep"


KEEP: Final = Unchanged.KEEP


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
class NewClient:
    """A tenant's OAuth app to register (``client_id`` is the provider's id of the app)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    provider: str
    issuer: str | None = None
    #: Empty: the provider's default scopes.
    scopes: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class ClientChanges:
    """A client's update; ``None`` keeps the fields that cannot be emptied."""

    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str | None = None
    provider: str | None = None
    issuer: str | Unchanged | None = KEEP
    #: Empty: back to the provider's default scopes.
    scopes: tuple[str, ...] | Unchanged = KEEP
    webhook_url: str | Unchanged | None = KEEP
    webhook_secret: str | None = field(default=None, repr=False)
    is_active: bool | None = None


@dataclass(frozen=True, slots=True)
class BranchRecord:
    """A business location served by a client (seed 001 ``branches``)."""

    id: int
    #: The tenant's own identifier of the branch, unique.
    branch_id: str
    client_pk: int
    branch_name: str | None
    email: str | None
    description: str | None
    account_id: str | None
    location_id: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewBranch:
    branch_id: str
    branch_name: str | None = None
    email: str | None = None
    description: str | None = None
    account_id: str | None = None
    location_id: str | None = None
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class BranchChanges:
    branch_name: str | Unchanged | None = KEEP
    email: str | Unchanged | None = KEEP
    description: str | Unchanged | None = KEEP
    account_id: str | Unchanged | None = KEEP
    location_id: str | Unchanged | None = KEEP
    is_active: bool | None = None


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


@dataclass(frozen=True, slots=True)
class ConsumedState:
    """What a used OAuth state was bound to: its client and, with PKCE, the code verifier."""

    client_pk: int
    code_verifier: str | None = field(repr=False)


class DeliveryStatus(StrEnum):
    """Where a webhook event stands (``events``): queued, taken by the receiver (2xx), being
    retried after a failure, or given up (the outbound policy refuses the receiver, or every
    retry failed)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event for a client's webhook and how its delivery went. The event is kept as sent
    (it never carries a token or secret), so an operator can send it again."""

    event_id: str
    client_pk: int
    event_type: str
    occurred_at: datetime
    status: DeliveryStatus
    attempts: int
    updated_at: datetime
    #: The receiver's last HTTP status, or why the last attempt failed without one.
    last_status_code: int | None = None
    last_error: str | None = None
    event: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)
