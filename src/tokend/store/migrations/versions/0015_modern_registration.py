"""Dynamic client registration (RFC 7591/7592): where each client came from, its keys (jwks or
jwks_uri) and descriptive metadata; registration access tokens and initial access tokens, both
stored only as hashes.

Existing clients are marked ``admin``: the CLI and the admin API made them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), server_default="admin", nullable=False)
        )
        batch.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("jwks_uri", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("client_metadata", sa.JSON(), server_default="{}", nullable=False)
        )
    op.create_table(
        "oidc_registration_tokens",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=80), nullable=False),
        sa.Column("issued_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_registration_tokens")),
    )
    op.create_table(
        "oidc_initial_access_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=80), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_initial_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oidc_initial_access_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_oidc_initial_access_tokens_expires_at"),
        "oidc_initial_access_tokens",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_oidc_initial_access_tokens_expires_at"), table_name="oidc_initial_access_tokens"
    )
    op.drop_table("oidc_initial_access_tokens")
    op.drop_table("oidc_registration_tokens")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("client_metadata")
        batch.drop_column("jwks_uri")
        batch.drop_column("jwks")
        batch.drop_column("source")
