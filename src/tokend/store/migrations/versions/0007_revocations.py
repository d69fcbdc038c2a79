"""revocations: the deny-list of access tokens leaves the OpenID provider (``oidc_revocations``)
for a table of its own that every surface reads (``core.revocations``); its rows are kept.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-16
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "kind, value, expires_at"


def _create(table: str) -> None:
    op.create_table(
        table,
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tokend.store.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f(f"pk_{table}")),
    )
    op.create_index(op.f(f"ix_{table}_expires_at"), table, ["expires_at"], unique=False)


def _move(source: str, target: str) -> None:
    """Create ``target``, copy every row of ``source`` into it, drop ``source``: a revoked
    token must stay revoked across the upgrade. A copy rather than a rename: SQLite keeps the
    old names of a renamed table's index and primary key."""
    _create(target)
    op.execute(f"INSERT INTO {target} ({_COLUMNS}) SELECT {_COLUMNS} FROM {source}")  # noqa: S608
    op.drop_index(op.f(f"ix_{source}_expires_at"), table_name=source)
    op.drop_table(source)


def upgrade() -> None:
    _move("oidc_revocations", "revocations")


def downgrade() -> None:
    _move("revocations", "oidc_revocations")
