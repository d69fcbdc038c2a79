"""Refresh tokens keep the sign-in's RFC 8176 methods (``amr``) and browser session (``sid``,
OpenID Back-Channel Logout §2.1), so that an ID token from a refresh repeats both. Tokens
issued before carry none, as before. Clients may require multi-factor sign-ins
(``require_mfa``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_refresh_tokens") as batch:
        batch.add_column(sa.Column("amr", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("sid", sa.String(length=64), nullable=True))
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("require_mfa", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("require_mfa")
    with op.batch_alter_table("oidc_refresh_tokens") as batch:
        batch.drop_column("sid")
        batch.drop_column("amr")
