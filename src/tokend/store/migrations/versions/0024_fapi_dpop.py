"""DPoP (RFC 9449): codes bound to a key (``dpop_jkt``, §10), public clients' refresh tokens
and opaque access tokens bound to one (§5, §6), and clients whose tokens must be bound (§5.2).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOUND = ("oidc_codes", "oidc_refresh_tokens", "oidc_access_tokens")


def upgrade() -> None:
    for table in _BOUND:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column(
                "dpop_bound_access_tokens", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("dpop_bound_access_tokens")
    for table in _BOUND:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dpop_jkt")
