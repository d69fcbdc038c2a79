"""The durable deny-list of access tokens and grants (``revocations``), behind
:class:`tokend.core.revocations.RevocationStore`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, CursorResult, String, and_, delete, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from tokend.core.errors import TemporarilyUnavailable
from tokend.core.revocations import Revoked, RevokedKind
from tokend.store.base import Base, UTCDateTime
from tokend.store.engine import Database

_UNAVAILABLE = "Revocations cannot be checked or recorded right now; try again later."


class RevocationRow(Base):
    """A revoked JWT access token (``kind`` "jti") or grant (``kind`` "grant").

    ``value`` is the ``jti`` or the grant id, never a token. A row is kept until no token it
    denies can still be valid, then the purge job deletes it.
    """

    __tablename__ = "revocations"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


@dataclass(frozen=True, slots=True)
class SqlRevocations:
    db: Database

    async def add(self, entry: Revoked, expires_at: datetime) -> None:
        try:
            try:
                async with self.db.sessions.begin() as session:
                    row = RevocationRow(
                        kind=entry.kind.value, value=entry.value, expires_at=expires_at
                    )
                    session.add(row)
            except IntegrityError:
                # Revoked before (or concurrently): keep whichever expiry is later.
                async with self.db.sessions.begin() as session:
                    await session.execute(
                        update(RevocationRow)
                        .where(_is(entry), RevocationRow.expires_at < expires_at)
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
        query = select(RevocationRow.kind, RevocationRow.value, RevocationRow.expires_at).where(
            or_(*(_is(entry) for entry in entries)), RevocationRow.expires_at > now
        )
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
                delete(RevocationRow).where(RevocationRow.expires_at <= now)
            )
            return result.rowcount if isinstance(result, CursorResult) else 0


def _is(entry: Revoked) -> ColumnElement[bool]:
    return and_(RevocationRow.kind == entry.kind.value, RevocationRow.value == entry.value)
