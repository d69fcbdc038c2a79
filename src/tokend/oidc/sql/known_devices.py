"""The browsers each user has signed in from, in ``oidc_known_devices``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokend.oidc.models import OidcKnownDeviceRow
from tokend.oidc.stores import DeviceSeen
from tokend.store.engine import Database

_Row = OidcKnownDeviceRow


@dataclass(frozen=True, slots=True)
class SqlKnownDevices:
    db: Database

    async def seen(
        self, user_id: str, hashes: Sequence[str], now: datetime, keep: int
    ) -> DeviceSeen:
        try:
            async with self.db.sessions.begin() as session:
                row = await session.scalar(
                    select(_Row)
                    .where(_Row.user_id == user_id, _Row.device_hash.in_(hashes))
                    .limit(1)
                )
                if row is not None:
                    row.last_seen_at = now
                    return "known"
                count = await session.scalar(
                    select(func.count()).select_from(_Row).where(_Row.user_id == user_id)
                )
                session.add(
                    _Row(user_id=user_id, device_hash=hashes[0], first_seen_at=now,
                         last_seen_at=now)
                )  # fmt: skip
                await session.flush()
                await self._forget_beyond(session, user_id, hashes[0], keep)
                return "new" if count else "first"
        except IntegrityError:  # the same browser signed in twice at once: the other added it
            return "known"

    @staticmethod
    async def _forget_beyond(session: AsyncSession, user_id: str, added: str, keep: int) -> None:
        """Keep the browser just added and the ``keep - 1`` others seen last."""
        kept = (
            select(_Row.device_hash)
            .where(_Row.user_id == user_id, _Row.device_hash != added)
            .order_by(_Row.last_seen_at.desc(), _Row.first_seen_at.desc(), _Row.device_hash)
            .limit(keep - 1)
        )
        await session.execute(
            delete(_Row).where(
                _Row.user_id == user_id, _Row.device_hash != added, _Row.device_hash.not_in(kept)
            )
        )
