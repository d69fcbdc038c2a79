"""Links to upstream accounts in ``oidc_upstream_links``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.errors import Conflict
from tokend.oidc.models import OidcUpstreamLinkRow
from tokend.oidc.records import UpstreamLink
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


def _link_of(row: OidcUpstreamLinkRow) -> UpstreamLink:
    return UpstreamLink(
        upstream_id=row.upstream_id,
        subject=row.subject,
        user_id=row.user_id,
        email=row.email,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


@dataclass(frozen=True, slots=True)
class SqlUpstreamLinks:
    db: Database

    async def add(self, link: UpstreamLink) -> None:
        try:
            async with self.db.sessions.begin() as session:
                session.add(
                    OidcUpstreamLinkRow(
                        upstream_id=link.upstream_id,
                        subject=link.subject,
                        user_id=link.user_id,
                        email=link.email,
                        created_at=link.created_at,
                        last_used_at=link.last_used_at,
                    )
                )
        except IntegrityError:
            raise Conflict("this upstream account, or one at this upstream, is linked") from None

    async def by_subject(self, upstream_id: str, subject: str) -> UpstreamLink | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcUpstreamLinkRow, (upstream_id, subject))
            return _link_of(row) if row is not None else None

    async def of_user(self, user_id: str) -> Sequence[UpstreamLink]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(OidcUpstreamLinkRow)
                .where(OidcUpstreamLinkRow.user_id == user_id)
                .order_by(OidcUpstreamLinkRow.created_at, OidcUpstreamLinkRow.upstream_id)
            )
            return [_link_of(row) for row in rows]

    async def used(self, upstream_id: str, subject: str, now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OidcUpstreamLinkRow)
                .where(
                    OidcUpstreamLinkRow.upstream_id == upstream_id,
                    OidcUpstreamLinkRow.subject == subject,
                )
                .values(last_used_at=now)
            )

    async def remove(self, user_id: str, upstream_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcUpstreamLinkRow).where(
                    OidcUpstreamLinkRow.user_id == user_id,
                    OidcUpstreamLinkRow.upstream_id == upstream_id,
                )
            )
            return rowcount(result) > 0
