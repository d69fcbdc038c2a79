"""``oidc_grant_claims``: the UserInfo claims a ``claims`` request asked for, per grant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Update, bindparam, delete, select, update

from tokend.oidc.models import OidcGrantClaimsRow
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database

_ROW = OidcGrantClaimsRow


def extend_where(grant: ColumnElement[bool]) -> Update:
    """Keep the claims of the grants ``grant`` picks until ``until``: only ever later, so a
    refresh with a shorter lifetime never cuts an earlier token short."""
    return (
        update(_ROW)
        .where(grant, _ROW.expires_at < bindparam("until"))
        .values(expires_at=bindparam("until"))
    )


#: Of grant ``grant``. Built once: the refresh grant runs it in its rotation
#: (``SqlRefreshTokens.rotate``; on PostgreSQL, ``extend_where`` inside the rotation's statement).
EXTEND = extend_where(_ROW.grant_id == bindparam("grant"))


@dataclass(frozen=True, slots=True)
class SqlGrantClaims:
    db: Database

    async def save(
        self, grant_id: str, client_id: str, userinfo: Sequence[str], expires_at: datetime
    ) -> None:
        row = _ROW(
            grant_id=grant_id, client_id=client_id, userinfo=list(userinfo), expires_at=expires_at
        )
        async with self.db.sessions.begin() as session:
            session.add(row)

    async def extend(self, grant_id: str, until: datetime) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(EXTEND, {"grant": grant_id, "until": until})

    async def userinfo(self, grant_id: str, client_id: str, now: datetime) -> tuple[str, ...]:
        async with self.db.sessions() as session:
            names = await session.scalar(
                select(_ROW.userinfo).where(
                    _ROW.grant_id == grant_id, _ROW.client_id == client_id, _ROW.expires_at > now
                )
            )
        return tuple(str(name) for name in names or ())

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            return rowcount(await session.execute(delete(_ROW).where(_ROW.expires_at <= now)))
