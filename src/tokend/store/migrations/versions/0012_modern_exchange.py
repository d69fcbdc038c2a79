"""oidc_clients.token_exchange: each client's RFC 8693 token exchange policy (null: none).

Revision ID: 0012_modern_exchange
Revises: 0011_modern_device
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_modern_exchange"
down_revision: str | None = "0011_modern_device"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("token_exchange", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("token_exchange")
