"""Standard claims and the claims request parameter (OIDC Core §5.1, §5.5).

``oidc_users`` gets the ``address`` (JSON object of §5.1.1 members), ``phone_number`` and
``phone_number_verified`` claims; ``oidc_codes.id_token_claims`` keeps the claims a ``claims``
request parameter asked for in the ID token until the code is exchanged.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_users") as batch:
        batch.add_column(sa.Column("address", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("phone_number", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column(
                "phone_number_verified", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    with op.batch_alter_table("oidc_codes") as batch:
        batch.add_column(sa.Column("id_token_claims", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_codes") as batch:
        batch.drop_column("id_token_claims")
    with op.batch_alter_table("oidc_users") as batch:
        batch.drop_column("phone_number_verified")
        batch.drop_column("phone_number")
        batch.drop_column("address")
