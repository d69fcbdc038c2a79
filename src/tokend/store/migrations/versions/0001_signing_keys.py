"""signing_keys: the keyring (kid, alg, state, encrypted private key).

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("use", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_key_enc", sa.Text(), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("activated_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.Column("retired_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('next', 'active', 'retired')", name=op.f("ck_signing_keys_state")
        ),
        sa.CheckConstraint("use = 'sig'", name=op.f("ck_signing_keys_use")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    # One active and one next key per algorithm: replicas racing to create one get a conflict.
    for state in ("active", "next"):
        op.create_index(
            f"uq_signing_keys_{state}_alg",
            "signing_keys",
            ["alg"],
            unique=True,
            sqlite_where=sa.text(f"state = '{state}'"),
            postgresql_where=sa.text(f"state = '{state}'"),
        )


def downgrade() -> None:
    for state in ("next", "active"):
        op.drop_index(f"uq_signing_keys_{state}_alg", table_name="signing_keys")
    op.drop_table("signing_keys")
