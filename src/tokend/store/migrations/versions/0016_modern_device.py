"""oidc_device_codes: device authorizations (RFC 8628) by the hashes of their device and user
codes, with the polling interval each one is held to.

Revision ID: 0011_modern_device
Revises: 0015
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_device_codes",
        sa.Column("device_code_hash", sa.String(length=80), nullable=False),
        sa.Column("user_code_hash", sa.String(length=80), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("auth_time", tokend.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash", name=op.f("pk_oidc_device_codes")),
        sa.UniqueConstraint("user_code_hash", name=op.f("uq_oidc_device_codes_user_code_hash")),
    )
    op.create_index(
        op.f("ix_oidc_device_codes_expires_at"), "oidc_device_codes", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_device_codes_expires_at"), table_name="oidc_device_codes")
    op.drop_table("oidc_device_codes")
