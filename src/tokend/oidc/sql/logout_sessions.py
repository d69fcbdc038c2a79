"""``oidc_logout_sessions``: the clients to notify when a browser session ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from tokend.oidc.models import OidcLogoutSessionRow
from tokend.store.engine import Database

_ROW = OidcLogoutSessionRow


@dataclass(frozen=True, slots=True)
class SqlLogoutSessions:
    db: Database

    async def remember(self, sid: str, client_id: str, user_id: str, now: datetime) -> None:
        async with self.db.sessions() as session:
            if await session.get(_ROW, (sid, client_id)) is not None:
                return
        try:
            async with self.db.sessions.begin() as session:
                session.add(_ROW(sid=sid, client_id=client_id, user_id=user_id, created_at=now))
        except IntegrityError:
            return  # recorded meanwhile by another request: the same fact

    async def claim(self, user_id: str, sid: str | None) -> list[tuple[str, str]]:
        # DELETE ... RETURNING: two replicas ending the same session split the rows between
        # them, so each client is notified by one of them only.
        statement = delete(_ROW).where(_ROW.user_id == user_id)
        if sid is not None:
            statement = statement.where(_ROW.sid == sid)
        async with self.db.sessions.begin() as session:
            rows = await session.execute(statement.returning(_ROW.sid, _ROW.client_id))
            return [(row.sid, row.client_id) for row in rows]
