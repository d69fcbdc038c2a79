"""OpenID Connect CIBA Core 1.0 (poll and ping): oidc_backchannel_requests (authentication
requests by their public id, auth_req_id and decision token only as hashes, the ping bearer
token encrypted); each client's backchannel_token_delivery_mode and notification endpoint; and
each user's verified phone number in E.164 (phone_key), so ``tel:`` login hints find them.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("backchannel_token_delivery_mode", sa.String(length=8), nullable=True)
        )
        batch.add_column(
            sa.Column("backchannel_client_notification_endpoint", sa.Text(), nullable=True)
        )
    with op.batch_alter_table("oidc_users") as batch:
        batch.add_column(sa.Column("phone_key", sa.String(length=16), nullable=True))
    op.create_index(op.f("ix_oidc_users_phone_key"), "oidc_users", ["phone_key"], unique=False)
    _fill_phone_keys()
    op.create_table(
        "oidc_backchannel_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("auth_req_id_hash", sa.String(length=80), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("binding_message", sa.String(length=200), nullable=True),
        sa.Column("delivery_mode", sa.String(length=8), nullable=False),
        sa.Column("notification_enc", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("created_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.Column("auth_time", tokend.store.base.UTCDateTime(), nullable=True),
        sa.Column("amr", sa.JSON(), server_default="[]", nullable=False),
        sa.Column("decision_token_hash", sa.String(length=80), nullable=True),
        sa.Column("redeemed_at", tokend.store.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_backchannel_requests")),
        sa.UniqueConstraint(
            "auth_req_id_hash", name=op.f("uq_oidc_backchannel_requests_auth_req_id_hash")
        ),
        sa.UniqueConstraint(
            "decision_token_hash", name=op.f("uq_oidc_backchannel_requests_decision_token_hash")
        ),
    )
    op.create_index(
        op.f("ix_oidc_backchannel_requests_user_id"),
        "oidc_backchannel_requests",
        ["user_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_oidc_backchannel_requests_expires_at"),
        "oidc_backchannel_requests",
        ["expires_at"],
        unique=False,
    )


def _e164(number: str) -> str | None:
    # tokend.oidc.phone_numbers.e164 as of this release (a migration imports no capability).
    if len(number) > 64 or ";" in number:
        return None
    compact = re.sub(r"[\s().\-]", "", number)
    return compact if re.match(r"^\+[1-9][0-9]{5,14}$", compact) else None


def _fill_phone_keys() -> None:
    """The E.164 key of every verified phone number stored before this release."""
    users = sa.table(
        "oidc_users",
        sa.column("id", sa.String()),
        sa.column("phone_number", sa.String()),
        sa.column("phone_number_verified", sa.Boolean()),
        sa.column("phone_key", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(users.c.id, users.c.phone_number).where(
            users.c.phone_number.is_not(None), users.c.phone_number_verified.is_(True)
        )
    ).all()
    for user_id, number in rows:
        key = _e164(number)
        if key is not None:
            bind.execute(users.update().where(users.c.id == user_id).values(phone_key=key))


def downgrade() -> None:
    op.drop_index(
        op.f("ix_oidc_backchannel_requests_expires_at"), table_name="oidc_backchannel_requests"
    )
    op.drop_index(
        op.f("ix_oidc_backchannel_requests_user_id"), table_name="oidc_backchannel_requests"
    )
    op.drop_table("oidc_backchannel_requests")
    op.drop_index(op.f("ix_oidc_users_phone_key"), table_name="oidc_users")
    with op.batch_alter_table("oidc_users") as batch:
        batch.drop_column("phone_key")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("backchannel_client_notification_endpoint")
        batch.drop_column("backchannel_token_delivery_mode")
