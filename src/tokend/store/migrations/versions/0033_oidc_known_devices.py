"""New-device sign-in notice: oidc_known_devices, the browsers each user has signed in from
(the hash of the random id in the browser's ``tokend_device`` cookie), at most
``oidc.accounts.known_devices_max`` per user.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_known_devices",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("device_hash", sa.String(length=80), nullable=False),
        sa.Column("first_seen_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "device_hash", name=op.f("pk_oidc_known_devices")),
    )


def downgrade() -> None:
    op.drop_table("oidc_known_devices")
