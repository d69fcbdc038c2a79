"""Identity brokering: oidc_upstream_links, the accounts at upstream identity providers
(``oidc.upstreams``) linked to users, by upstream and subject; one per user and upstream. No
upstream token is stored.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_upstream_links",
        sa.Column("upstream_id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("upstream_id", "subject", name=op.f("pk_oidc_upstream_links")),
    )
    op.create_index(
        "uq_oidc_upstream_links_user_upstream",
        "oidc_upstream_links",
        ["user_id", "upstream_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_oidc_upstream_links_user_upstream", table_name="oidc_upstream_links")
    op.drop_table("oidc_upstream_links")
