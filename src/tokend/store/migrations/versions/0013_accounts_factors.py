"""Second factors and account sessions: oidc_totp (seeds encrypted), oidc_recovery_codes
(hashes), the sign-in methods (amr) of sessions and codes, and what the account page shows of
a session (a public handle, device, address, last seen).

Sessions of earlier releases get an empty handle and no methods; they stay valid.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tokend.store.base import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_totp",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("seed_enc", sa.Text(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "oidc_recovery_codes",
        sa.Column("code_hash", sa.String(80), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_oidc_recovery_codes_user_id", "oidc_recovery_codes", ["user_id"])
    with op.batch_alter_table("oidc_sessions") as batch:
        batch.add_column(sa.Column("amr", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("sid", sa.String(32), server_default="", nullable=False))
        batch.add_column(sa.Column("device", sa.String(200), server_default="", nullable=False))
        batch.add_column(sa.Column("ip", sa.String(64), server_default="", nullable=False))
        batch.add_column(sa.Column("last_seen_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("oidc_codes") as batch:
        batch.add_column(sa.Column("amr", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("oidc_codes") as batch:
        batch.drop_column("amr")
    with op.batch_alter_table("oidc_sessions") as batch:
        for column in ("last_seen_at", "ip", "device", "sid", "amr"):
            batch.drop_column(column)
    op.drop_index("ix_oidc_recovery_codes_user_id", "oidc_recovery_codes")
    op.drop_table("oidc_recovery_codes")
    op.drop_table("oidc_totp")
