"""oidc security review: a refresh-token reuse grace per client; codes found by user; pending
sign-ins and mail links in the database (a flooded memory cache evicted them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

_DT = tokend.store.base.UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: existing clients keep the setting's grace, which is now 0 (RFC 9700 §4.14.2).
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("refresh_grace_s", sa.Integer(), nullable=True))
    # A new password revokes the user's grants, found through their codes among others.
    op.create_index(op.f("ix_oidc_codes_user_id"), "oidc_codes", ["user_id"], unique=False)
    op.create_table(
        "oidc_interactions",
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_oidc_interactions")),
    )
    op.create_index(
        op.f("ix_oidc_interactions_expires_at"), "oidc_interactions", ["expires_at"], unique=False
    )
    op.create_table(
        "oidc_email_links",
        sa.Column("link_hash", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("link_hash", name=op.f("pk_oidc_email_links")),
    )
    op.create_index(
        op.f("ix_oidc_email_links_expires_at"), "oidc_email_links", ["expires_at"], unique=False
    )
    op.create_index(
        op.f("ix_oidc_email_links_user_id"), "oidc_email_links", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_email_links_user_id"), table_name="oidc_email_links")
    op.drop_index(op.f("ix_oidc_email_links_expires_at"), table_name="oidc_email_links")
    op.drop_table("oidc_email_links")
    op.drop_index(op.f("ix_oidc_interactions_expires_at"), table_name="oidc_interactions")
    op.drop_table("oidc_interactions")
    op.drop_index(op.f("ix_oidc_codes_user_id"), table_name="oidc_codes")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("refresh_grace_s")
