"""Vault webhook deliveries: vault_webhook_deliveries, each event sent to a client's webhook
(as sent: no token or secret is in one) and how its delivery went, for the console.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vault_webhook_deliveries",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("updated_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["vault_clients.id"],
            name=op.f("fk_vault_webhook_deliveries_client_id_vault_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_vault_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_vault_webhook_deliveries_client_id"),
        "vault_webhook_deliveries",
        ["client_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_vault_webhook_deliveries_occurred_at"),
        "vault_webhook_deliveries",
        ["occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_vault_webhook_deliveries_occurred_at"), table_name="vault_webhook_deliveries"
    )
    op.drop_index(
        op.f("ix_vault_webhook_deliveries_client_id"), table_name="vault_webhook_deliveries"
    )
    op.drop_table("vault_webhook_deliveries")
