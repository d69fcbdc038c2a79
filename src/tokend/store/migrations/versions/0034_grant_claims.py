"""``oidc_grant_claims``: the claims a ``claims`` request parameter asked the UserInfo endpoint
for (OIDC Core §5.5 ``userinfo`` member), kept per grant, so that every access token of the
grant (JWT or opaque, first or refreshed) releases them without carrying them; only to the
client that asked (a token exchanged for another client keeps the grant id).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_grant_claims",
        sa.Column("grant_id", sa.String(length=64), primary_key=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("userinfo", sa.JSON(), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_oidc_grant_claims_expires_at", "oidc_grant_claims", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_grant_claims_expires_at", table_name="oidc_grant_claims")
    op.drop_table("oidc_grant_claims")
