"""Roles and groups in tokens: oidc_users.groups and .client_roles, oidc_clients.role_claims.

Existing users get no groups and no client roles; existing clients the flat ``roles`` shape
(which only a token granted the new ``roles`` scope carries).

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_users") as batch:
        batch.add_column(sa.Column("groups", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("client_roles", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("role_claims", sa.String(16), server_default="roles", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("role_claims")
    with op.batch_alter_table("oidc_users") as batch:
        batch.drop_column("client_roles")
        batch.drop_column("groups")
