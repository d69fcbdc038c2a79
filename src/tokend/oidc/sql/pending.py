"""Pending sign-ins and one-time mail links (``oidc_interactions``, ``oidc_email_links``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from tokend.oidc.models import OidcEmailLinkRow, OidcInteractionRow
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


@dataclass(frozen=True, slots=True)
class SqlInteractions:
    db: Database

    async def save(self, uid: str, data: Mapping[str, object], expires_at: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.merge(OidcInteractionRow(uid=uid, data=dict(data), expires_at=expires_at))

    async def load(self, uid: str, now: datetime) -> dict[str, object] | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcInteractionRow, uid)
            if row is None or row.expires_at <= now:
                return None
            return dict(row.data)

    async def delete(self, uid: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(delete(OidcInteractionRow).where(OidcInteractionRow.uid == uid))

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcInteractionRow).where(OidcInteractionRow.expires_at <= now)
            )
            return rowcount(result)


@dataclass(frozen=True, slots=True)
class SqlEmailLinks:
    db: Database

    async def add(self, link_hash: str, kind: str, user_id: str, expires_at: datetime) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                OidcEmailLinkRow(
                    link_hash=link_hash, kind=kind, user_id=user_id, expires_at=expires_at
                )
            )

    async def find(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        async with self.db.sessions() as session:
            return await session.scalar(
                select(OidcEmailLinkRow.user_id).where(
                    OidcEmailLinkRow.link_hash.in_(link_hashes),
                    OidcEmailLinkRow.kind == kind,
                    OidcEmailLinkRow.expires_at > now,
                )
            )

    async def use(self, link_hashes: Sequence[str], kind: str, now: datetime) -> str | None:
        async with self.db.sessions.begin() as session:
            # DELETE ... RETURNING: of two concurrent uses, only one gets a row back.
            return await session.scalar(
                delete(OidcEmailLinkRow)
                .where(
                    OidcEmailLinkRow.link_hash.in_(link_hashes),
                    OidcEmailLinkRow.kind == kind,
                    OidcEmailLinkRow.expires_at > now,
                )
                .returning(OidcEmailLinkRow.user_id)
            )

    async def forget_user(self, user_id: str, kind: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(OidcEmailLinkRow).where(
                    OidcEmailLinkRow.user_id == user_id, OidcEmailLinkRow.kind == kind
                )
            )

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcEmailLinkRow).where(OidcEmailLinkRow.expires_at <= now)
            )
            return rowcount(result)
