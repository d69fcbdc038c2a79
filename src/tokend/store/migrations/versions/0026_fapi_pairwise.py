"""Pairwise subject identifiers (OIDC Core §8.1): a client's subject type and sector.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("subject_type", sa.String(length=16), server_default="public", nullable=False)
        )
        batch.add_column(sa.Column("sector_identifier_uri", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("sector_identifier_uri")
        batch.drop_column("subject_type")
