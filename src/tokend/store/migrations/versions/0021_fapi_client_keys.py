"""Client authentication with keys (RFC 7523 §2.2, OIDC Core §9): the alg its assertions use
and, for client_secret_jwt, the secret itself, encrypted (an HMAC is checked with the secret,
not its hash). The client's ``jwks``/``jwks_uri`` columns come with dynamic registration.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("token_endpoint_auth_signing_alg", sa.String(length=16), nullable=True)
        )
        batch.add_column(sa.Column("secret_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("secret_enc")
        batch.drop_column("token_endpoint_auth_signing_alg")
