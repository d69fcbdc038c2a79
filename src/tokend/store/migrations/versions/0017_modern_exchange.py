"""oidc_clients.token_exchange: each client's RFC 8693 token exchange policy (null: none);
oidc_clients.jwt_introspection: whether it gets RFC 9701 signed introspection responses.

Revision ID: 0012_modern_exchange
Revises: 0011_modern_device
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("token_exchange", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("jwt_introspection", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("jwt_introspection")
        batch.drop_column("token_exchange")
