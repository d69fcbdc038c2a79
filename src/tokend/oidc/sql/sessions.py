"""Remembered consents and sign-in sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete

from tokend.oidc.models import OidcConsentRow, OidcSessionRow
from tokend.oidc.records import Session
from tokend.oidc.sql._rows import scope_text, scopes_of
from tokend.store.engine import Database


@dataclass(frozen=True, slots=True)
class SqlConsents:
    db: Database

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        async with self.db.sessions() as session:
            row = await session.get(OidcConsentRow, (user_id, client_id))
            return scopes_of(row.scope) if row is not None else frozenset()

    async def grant(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> None:
        async with self.db.sessions.begin() as session:
            row = await session.get(OidcConsentRow, (user_id, client_id))
            if row is None:
                session.add(
                    OidcConsentRow(
                        user_id=user_id,
                        client_id=client_id,
                        scope=scope_text(scopes),
                        granted_at=now,
                    )
                )
            else:
                row.scope = scope_text(scopes_of(row.scope) | scopes)
                row.granted_at = now


@dataclass(frozen=True, slots=True)
class SqlSessions:
    db: Database

    async def create(self, id_hash: str, session: Session) -> None:
        async with self.db.sessions.begin() as db_session:
            db_session.add(
                OidcSessionRow(
                    id_hash=id_hash,
                    user_id=session.user_id,
                    auth_time=session.auth_time,
                    expires_at=session.expires_at,
                )
            )

    async def get(self, id_hash: str, now: datetime) -> Session | None:
        async with self.db.sessions() as db_session:
            row = await db_session.get(OidcSessionRow, id_hash)
            if row is None or row.expires_at <= now:
                return None
            return Session(user_id=row.user_id, auth_time=row.auth_time, expires_at=row.expires_at)

    async def end(self, id_hash: str) -> None:
        async with self.db.sessions.begin() as db_session:
            await db_session.execute(
                delete(OidcSessionRow).where(OidcSessionRow.id_hash == id_hash)
            )
