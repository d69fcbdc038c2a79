"""oidc_clients.web_origins: the browser origins allowed to call the token, revocation and
introspection endpoints for each client (CORS); ``+`` stands for its redirect URIs' origins.

Revision ID: 0013_modern_cors
Revises: 0012_modern_exchange
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("web_origins", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("web_origins")
