"""Registration access tokens and initial access tokens (RFC 7591/7592), by hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from tokend.oidc.models import OidcInitialAccessTokenRow, OidcRegistrationTokenRow
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


@dataclass(frozen=True, slots=True)
class SqlRegistrationTokens:
    db: Database

    async def put(self, client_id: str, token_hash: str, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.merge(
                OidcRegistrationTokenRow(client_id=client_id, token_hash=token_hash, issued_at=now)
            )

    async def hash_of(self, client_id: str) -> str | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcRegistrationTokenRow, client_id)
            return row.token_hash if row is not None else None

    async def rotate(self, client_id: str, old_hash: str, new_hash: str, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcRegistrationTokenRow)
                .where(
                    OidcRegistrationTokenRow.client_id == client_id,
                    OidcRegistrationTokenRow.token_hash == old_hash,
                )
                .values(token_hash=new_hash, issued_at=now)
            )
            return rowcount(result) == 1

    async def delete(self, client_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(OidcRegistrationTokenRow).where(
                    OidcRegistrationTokenRow.client_id == client_id
                )
            )


def _usable(token_hashes: Sequence[str], now: datetime) -> ColumnElement[bool]:
    row = OidcInitialAccessTokenRow
    return and_(
        row.token_hash.in_(list(token_hashes)),
        row.expires_at > now,
        or_(row.max_uses.is_(None), row.uses < row.max_uses),
    )


@dataclass(frozen=True, slots=True)
class SqlInitialAccessTokens:
    db: Database

    async def add(
        self,
        token_id: str,
        token_hash: str,
        expires_at: datetime,
        max_uses: int | None,
        now: datetime,
    ) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                OidcInitialAccessTokenRow(
                    id=token_id,
                    token_hash=token_hash,
                    expires_at=expires_at,
                    max_uses=max_uses,
                    uses=0,
                    created_at=now,
                )
            )

    async def is_usable(self, token_hashes: Sequence[str], now: datetime) -> bool:
        async with self.db.sessions() as session:
            found = await session.scalar(
                select(OidcInitialAccessTokenRow.id).where(_usable(token_hashes, now))
            )
            return found is not None

    async def use(self, token_hashes: Sequence[str], now: datetime) -> bool:
        # One conditional UPDATE: the database serialises concurrent uses of the last one.
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcInitialAccessTokenRow)
                .where(_usable(token_hashes, now))
                .values(uses=OidcInitialAccessTokenRow.uses + 1)
            )
            return rowcount(result) == 1
