"""oidc_clients.vault_clients: the vault clients (tenants) a client's access tokens may reach.

Existing clients get none (``[]``): their tokens reach no vault connection unless they carry
``vault:admin`` (vault.access), which is what the operator grants per client from now on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-16
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("vault_clients", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("vault_clients")
