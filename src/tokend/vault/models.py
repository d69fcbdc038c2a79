"""The seed-001 tables (clients, branches, tokens, oauth_states), prefixed ``vault_``.

Secrets are never stored in clear: ``*_enc`` columns hold FieldCipher ciphertext bound (AAD) to
the row they belong to, and OAuth states are stored as peppered hashes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tokend.store.base import Base, UTCDateTime
from tokend.vault.records import ConnectionStatus


class VaultClient(Base):
    """A tenant's OAuth app at one provider (seed: ``clients``)."""

    __tablename__ = "vault_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64), default="google")
    #: For discovery providers (``oidc``): the issuer whose metadata names the endpoints.
    issuer: Mapped[str | None] = mapped_column(String(512), default=None)
    client_id: Mapped[str] = mapped_column(String(255), unique=True)
    client_secret_enc: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str] = mapped_column(String(1024))
    scopes: Mapped[str | None] = mapped_column(String(2048), default=None)
    webhook_url: Mapped[str | None] = mapped_column(String(1024), default=None)
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VaultBranch(Base):
    """A business location served by a client (seed: ``branches``)."""

    __tablename__ = "vault_branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    branch_id: Mapped[str] = mapped_column(String(255), unique=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("vault_clients.id", ondelete="CASCADE"), index=True
    )
    branch_name: Mapped[str | None] = mapped_column(String(255), default=None)
    email: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    account_id: Mapped[str | None] = mapped_column(String(255), default=None)
    location_id: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VaultToken(Base):
    """A client's connection: its tokens (encrypted) and refresh bookkeeping (seed: ``tokens``)."""

    __tablename__ = "vault_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("vault_clients.id", ondelete="CASCADE"), index=True
    )
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text, default=None)
    token_type: Mapped[str] = mapped_column(String(32), default="Bearer")
    scope: Mapped[str | None] = mapped_column(String(2048), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    is_revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.ACTIVE.value)
    #: Bumped on every change of the tokens: a refresh that finds it moved knows it lost a race.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VaultOAuthState(Base):
    """One authorization request in flight (seed: ``oauth_states``); one-time, 10 minutes."""

    __tablename__ = "vault_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state_hash: Mapped[str] = mapped_column(String(128), unique=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("vault_clients.id", ondelete="CASCADE"), index=True
    )
    code_verifier_enc: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    is_used: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the provider said when it refused (``access_denied``, ...), for the record.
    error: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VaultWebhookDelivery(Base):
    """An event sent to a client's webhook and how its delivery went (``events``); the event
    JSON as sent (no token or secret is ever in one), so it can be sent again."""

    __tablename__ = "vault_webhook_deliveries"

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("vault_clients.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    event: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
