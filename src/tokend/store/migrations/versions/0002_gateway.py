"""gateway tables: standalone consumers (API key hash, encrypted JWT credential secret).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_consumers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("api_key_hash", sa.String(length=128), nullable=False),
        sa.Column("jwt_key", sa.String(length=64), nullable=False),
        sa.Column("jwt_secret_enc", sa.Text(), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_consumers")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_gateway_consumers_api_key_hash")),
        sa.UniqueConstraint("username", name=op.f("uq_gateway_consumers_username")),
    )


def downgrade() -> None:
    op.drop_table("gateway_consumers")
