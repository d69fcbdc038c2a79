"""OpenID Back-Channel Logout: each client's backchannel_logout_uri and whether it requires
sid; the sid of the browser session a code was issued in; and which clients got an ID token
in which session (oidc_logout_sessions), so ending a session notifies each once.

Revision ID: 0019
Revises: 0013_modern_cors
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(sa.Column("backchannel_logout_uri", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "backchannel_logout_session_required",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table("oidc_codes") as batch:
        batch.add_column(sa.Column("sid", sa.String(length=64), nullable=True))
    op.create_table(
        "oidc_logout_sessions",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid", "client_id", name=op.f("pk_oidc_logout_sessions")),
    )
    op.create_index(
        op.f("ix_oidc_logout_sessions_user_id"), "oidc_logout_sessions", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_logout_sessions_user_id"), table_name="oidc_logout_sessions")
    op.drop_table("oidc_logout_sessions")
    with op.batch_alter_table("oidc_codes") as batch:
        batch.drop_column("sid")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("backchannel_logout_session_required")
        batch.drop_column("backchannel_logout_uri")
