"""oidc_passkeys: users' WebAuthn credentials (public keys, sign counts, names, last use).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tokend.store.base import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_passkeys",
        sa.Column("credential_id", sa.String(700), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("device_type", sa.String(32), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_oidc_passkeys_user_id", "oidc_passkeys", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_oidc_passkeys_user_id", "oidc_passkeys")
    op.drop_table("oidc_passkeys")
