"""The durable deny-list of JWT access tokens and grants (``oidc_revocations``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tokend.core.errors import TemporarilyUnavailable
from tokend.oidc.models import OidcRevocationRow
from tokend.oidc.records import Revoked, RevokedKind
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database

_UNAVAILABLE = "Revocations cannot be checked or recorded right now; try again later."


@dataclass(frozen=True, slots=True)
class SqlRevocations:
    db: Database

    async def add(self, entry: Revoked, expires_at: datetime) -> None:
        try:
            try:
                async with self.db.sessions.begin() as session:
                    session.add(
                        OidcRevocationRow(
                            kind=entry.kind.value, value=entry.value, expires_at=expires_at
                        )
                    )
            except IntegrityError:
                # Revoked before (or concurrently): keep whichever expiry is later.
                async with self.db.sessions.begin() as session:
                    await session.execute(
                        update(OidcRevocationRow)
                        .where(_is(entry), OidcRevocationRow.expires_at < expires_at)
                        .values(expires_at=expires_at)
                    )
        except (SQLAlchemyError, OSError) as exc:
            # RFC 7009 §2.2.1: a 503 tells the client the token was not revoked; retry later.
            raise TemporarilyUnavailable(
                _UNAVAILABLE, internal=f"revocation not recorded ({type(exc).__name__})"
            ) from None

    async def revoked(self, entries: Sequence[Revoked], now: datetime) -> dict[Revoked, datetime]:
        if not entries:
            return {}
        query = select(
            OidcRevocationRow.kind, OidcRevocationRow.value, OidcRevocationRow.expires_at
        ).where(or_(*(_is(entry) for entry in entries)), OidcRevocationRow.expires_at > now)
        try:
            async with self.db.sessions() as session:
                rows = (await session.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise TemporarilyUnavailable(
                _UNAVAILABLE, internal=f"revocations not read ({type(exc).__name__})"
            ) from None
        return {Revoked(RevokedKind(kind), value): until for kind, value, until in rows}

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcRevocationRow).where(OidcRevocationRow.expires_at <= now)
            )
            return rowcount(result)


def _is(entry: Revoked) -> ColumnElement[bool]:
    return and_(OidcRevocationRow.kind == entry.kind.value, OidcRevocationRow.value == entry.value)
