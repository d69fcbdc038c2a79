"""oidc_revocations: revoked JWT access tokens (by jti) and grants, durable beyond the cache.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_revocations",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_oidc_revocations")),
    )
    op.create_index(
        op.f("ix_oidc_revocations_expires_at"), "oidc_revocations", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_revocations_expires_at"), table_name="oidc_revocations")
    op.drop_table("oidc_revocations")
