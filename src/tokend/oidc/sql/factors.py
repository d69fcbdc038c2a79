"""Second factors in ``oidc_totp`` and ``oidc_recovery_codes``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from tokend.oidc.models import OidcRecoveryCodeRow, OidcTotpRow
from tokend.oidc.records import TotpFactor
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


@dataclass(frozen=True, slots=True)
class SqlFactors:
    db: Database

    async def totp(self, user_id: str) -> TotpFactor | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcTotpRow, user_id)
            if row is None:
                return None
            return TotpFactor(row.user_id, row.seed_enc, row.confirmed, row.last_step,
                              row.created_at)  # fmt: skip

    async def save_totp(self, factor: TotpFactor) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(delete(OidcTotpRow).where(OidcTotpRow.user_id == factor.user_id))
            session.add(
                OidcTotpRow(
                    user_id=factor.user_id,
                    seed_enc=factor.seed_enc,
                    confirmed=factor.confirmed,
                    last_step=factor.last_step,
                    created_at=factor.created_at,
                )
            )

    async def advance_totp(self, user_id: str, step: int, confirm: bool) -> bool:
        values: dict[str, object] = {"last_step": step}
        if confirm:
            values["confirmed"] = True
        async with self.db.sessions.begin() as session:
            # One UPDATE with the comparison in its WHERE: two requests with the same code
            # cannot both see the older step (RFC 6238 §5.2).
            result = await session.execute(
                update(OidcTotpRow)
                .where(OidcTotpRow.user_id == user_id, OidcTotpRow.last_step < step)
                .values(**values)
            )
            return rowcount(result) > 0

    async def replace_recovery_codes(self, user_id: str, code_hashes: Sequence[str]) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                delete(OidcRecoveryCodeRow).where(OidcRecoveryCodeRow.user_id == user_id)
            )
            session.add_all(
                OidcRecoveryCodeRow(code_hash=h, user_id=user_id, used_at=None) for h in code_hashes
            )

    async def use_recovery_code(
        self, user_id: str, code_hashes: Sequence[str], now: datetime
    ) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcRecoveryCodeRow)
                .where(
                    OidcRecoveryCodeRow.code_hash.in_(code_hashes),
                    OidcRecoveryCodeRow.user_id == user_id,
                    OidcRecoveryCodeRow.used_at.is_(None),
                )
                .values(used_at=now)
            )
            return rowcount(result) > 0

    async def recovery_codes_left(self, user_id: str) -> int:
        async with self.db.sessions() as session:
            left = await session.scalar(
                select(func.count()).where(
                    OidcRecoveryCodeRow.user_id == user_id, OidcRecoveryCodeRow.used_at.is_(None)
                )
            )
            return int(left or 0)

    async def forget(self, user_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            totp = await session.execute(delete(OidcTotpRow).where(OidcTotpRow.user_id == user_id))
            codes = await session.execute(
                delete(OidcRecoveryCodeRow).where(OidcRecoveryCodeRow.user_id == user_id)
            )
            return rowcount(totp) + rowcount(codes) > 0
