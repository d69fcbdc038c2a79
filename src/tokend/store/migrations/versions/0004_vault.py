"""vault tables: clients, branches, tokens, oauth_states (seed 001), prefixed ``vault_``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tokend.store.base.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "vault_clients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret_enc", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1024), nullable=False),
        sa.Column("scopes", sa.String(length=2048), nullable=True),
        sa.Column("webhook_url", sa.String(length=1024), nullable=True),
        sa.Column("webhook_secret_enc", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_vault_clients_client_id")),
    )
    op.create_table(
        "vault_branches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("branch_id", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("branch_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("location_id", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["vault_clients.id"],
            name=op.f("fk_vault_branches_client_id_vault_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_branches")),
        sa.UniqueConstraint("branch_id", name=op.f("uq_vault_branches_branch_id")),
    )
    op.create_index(
        op.f("ix_vault_branches_client_id"), "vault_branches", ["client_id"], unique=False
    )
    op.create_index(
        op.f("ix_vault_branches_location_id"), "vault_branches", ["location_id"], unique=False
    )
    op.create_table(
        "vault_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("token_type", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=2048), nullable=True),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("is_revoked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("last_refreshed_at", tokend.store.base.UTCDateTime(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["vault_clients.id"],
            name=op.f("fk_vault_tokens_client_id_vault_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_tokens")),
    )
    op.create_index(op.f("ix_vault_tokens_client_id"), "vault_tokens", ["client_id"], unique=False)
    op.create_index(
        op.f("ix_vault_tokens_expires_at"), "vault_tokens", ["expires_at"], unique=False
    )
    op.create_table(
        "vault_oauth_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state_hash", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("code_verifier_enc", sa.Text(), nullable=True),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("is_used", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["vault_clients.id"],
            name=op.f("fk_vault_oauth_states_client_id_vault_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_oauth_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_vault_oauth_states_state_hash")),
    )
    op.create_index(
        op.f("ix_vault_oauth_states_client_id"),
        "vault_oauth_states",
        ["client_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vault_oauth_states_client_id"), table_name="vault_oauth_states")
    op.drop_table("vault_oauth_states")
    op.drop_index(op.f("ix_vault_tokens_expires_at"), table_name="vault_tokens")
    op.drop_index(op.f("ix_vault_tokens_client_id"), table_name="vault_tokens")
    op.drop_table("vault_tokens")
    op.drop_index(op.f("ix_vault_branches_location_id"), table_name="vault_branches")
    op.drop_index(op.f("ix_vault_branches_client_id"), table_name="vault_branches")
    op.drop_table("vault_branches")
    op.drop_table("vault_clients")
