"""Remembered consents and sign-in sessions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from tokend.oidc.models import OidcConsentRow, OidcSessionRow
from tokend.oidc.records import Consent, Session
from tokend.oidc.sql._rows import rowcount, scope_text, scopes_of
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

    async def of_user(self, user_id: str) -> Sequence[Consent]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(OidcConsentRow)
                .where(OidcConsentRow.user_id == user_id)
                .order_by(OidcConsentRow.granted_at.desc())
            )
            return [Consent(row.client_id, scopes_of(row.scope), row.granted_at) for row in rows]

    async def withdraw(self, user_id: str, client_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcConsentRow).where(
                    OidcConsentRow.user_id == user_id, OidcConsentRow.client_id == client_id
                )
            )
            return rowcount(result) > 0


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
                    amr=list(session.amr),
                    sid=session.sid,
                    device=session.device[:200],
                    ip=session.ip[:64],
                    last_seen_at=session.last_seen_at,
                )
            )

    async def get(self, id_hash: str, now: datetime) -> Session | None:
        async with self.db.sessions() as db_session:
            row = await db_session.get(OidcSessionRow, id_hash)
            if row is None or row.expires_at <= now:
                return None
            return _session_of(row)

    async def seen(self, id_hash: str, now: datetime) -> None:
        async with self.db.sessions.begin() as db_session:
            await db_session.execute(
                update(OidcSessionRow)
                .where(OidcSessionRow.id_hash == id_hash)
                .values(last_seen_at=now)
            )

    async def of_user(self, user_id: str, now: datetime) -> Sequence[tuple[str, Session]]:
        async with self.db.sessions() as db_session:
            rows = await db_session.scalars(
                select(OidcSessionRow)
                .where(OidcSessionRow.user_id == user_id, OidcSessionRow.expires_at > now)
                .order_by(OidcSessionRow.auth_time.desc())
            )
            return [(row.id_hash, _session_of(row)) for row in rows]

    async def end(self, id_hash: str) -> None:
        async with self.db.sessions.begin() as db_session:
            await db_session.execute(
                delete(OidcSessionRow).where(OidcSessionRow.id_hash == id_hash)
            )


def _session_of(row: OidcSessionRow) -> Session:
    return Session(
        user_id=row.user_id,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        amr=tuple(row.amr or ()),
        sid=row.sid or "",
        device=row.device or "",
        ip=row.ip or "",
        last_seen_at=row.last_seen_at,
    )
