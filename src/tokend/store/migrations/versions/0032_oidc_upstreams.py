"""Identity brokering: oidc_upstreams, the upstream identity providers added through the admin
API (``/admin/upstreams``), next to those in the settings. The client secret is sealed with the
FieldCipher (``client_secret_enc``), the rest is the upstream's settings as JSON.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_upstreams",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("client_secret_enc", sa.Text(), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_upstreams")),
    )


def downgrade() -> None:
    op.drop_table("oidc_upstreams")
