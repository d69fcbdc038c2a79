"""The statements every refresh makes, built once: building and keying a SQLAlchemy
statement costs more CPU than running it, and a sweep runs them for every connection.

Both take bound parameters; ``SqlConnections`` executes them (on a sweep's held connection, see
:mod:`tokend.vault.sql.sweep_connection`).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import String, bindparam, func, select, update

from tokend.vault.models import VaultClient, VaultToken
from tokend.vault.records import ConnectionStatus

#: A client with its tokens that are not superseded (none: one row with a NULL token).
_CLIENT_WITH_TOKENS: Final = select(VaultClient, VaultToken).outerjoin(
    VaultToken,
    (VaultToken.client_id == VaultClient.id)
    & (VaultToken.status != ConnectionStatus.SUPERSEDED.value),
)

#: ``SqlConnections.connection``: the client and its current token (``client_pk``).
READ_CONNECTION: Final = (
    _CLIENT_WITH_TOKENS.where(VaultClient.id == bindparam("client_pk"))
    .order_by(VaultToken.id.desc())
    .limit(1)
)

#: ``SqlConnections.connections``: the same for a sweep's batch (``client_pks``, expanding), each
#: client's rows newest token first, so its first row is the one ``READ_CONNECTION`` would give.
READ_CONNECTIONS: Final = _CLIENT_WITH_TOKENS.where(
    VaultClient.id.in_(bindparam("client_pks", expanding=True))
).order_by(VaultClient.id, VaultToken.id.desc())

_TOKENS: Final = VaultToken.metadata.tables[VaultToken.__tablename__]

#: ``SqlConnections.save_refreshed``: applies only while the row is still at the generation the
#: refresher read (``seen``); a NULL new refresh token keeps the stored one (RFC 6749 §6).
#: Core, not ORM: nothing is loaded back, since ``save_refreshed`` knows the row it wrote.
SAVE_REFRESHED: Final = (
    update(_TOKENS)
    .where(_TOKENS.c.id == bindparam("row_id"), _TOKENS.c.generation == bindparam("seen"))
    .values(
        access_token_enc=bindparam("new_access_token_enc"),
        refresh_token_enc=func.coalesce(
            bindparam("new_refresh_token_enc", type_=String), _TOKENS.c.refresh_token_enc
        ),
        token_type=bindparam("new_token_type"),
        scope=bindparam("new_scope"),
        expires_at=bindparam("new_expires_at"),
        is_valid=True,
        status=ConnectionStatus.ACTIVE.value,
        generation=bindparam("new_generation"),
        failure_count=0,
        next_attempt_at=None,
        last_error=None,
        last_refreshed_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(_TOKENS.c.id)
)
