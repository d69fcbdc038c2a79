"""oidc security review: a refresh-token reuse grace per client; codes found by user.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: existing clients keep the setting's grace, which is now 0 (RFC 9700 §4.14.2).
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("refresh_grace_s", sa.Integer(), nullable=True))
    # A new password revokes the user's grants, found through their codes among others.
    op.create_index(op.f("ix_oidc_codes_user_id"), "oidc_codes", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_codes_user_id"), table_name="oidc_codes")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("refresh_grace_s")
