"""WebAuthn credentials in ``oidc_passkeys``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.errors import Conflict
from tokend.oidc.models import OidcPasskeyRow
from tokend.oidc.records import Passkey
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database


def _passkey_of(row: OidcPasskeyRow) -> Passkey:
    return Passkey(
        credential_id=row.credential_id,
        user_id=row.user_id,
        public_key=row.public_key,
        sign_count=row.sign_count,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        device_type=row.device_type,
        backed_up=row.backed_up,
    )


@dataclass(frozen=True, slots=True)
class SqlPasskeys:
    db: Database

    async def add(self, passkey: Passkey) -> None:
        try:
            async with self.db.sessions.begin() as session:
                session.add(
                    OidcPasskeyRow(
                        credential_id=passkey.credential_id,
                        user_id=passkey.user_id,
                        public_key=passkey.public_key,
                        sign_count=passkey.sign_count,
                        name=passkey.name,
                        created_at=passkey.created_at,
                        last_used_at=passkey.last_used_at,
                        device_type=passkey.device_type,
                        backed_up=passkey.backed_up,
                    )
                )
        except IntegrityError:
            raise Conflict("this passkey is registered already") from None

    async def get(self, credential_id: str) -> Passkey | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcPasskeyRow, credential_id)
            return _passkey_of(row) if row is not None else None

    async def of_user(self, user_id: str) -> Sequence[Passkey]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(OidcPasskeyRow)
                .where(OidcPasskeyRow.user_id == user_id)
                .order_by(OidcPasskeyRow.created_at)
            )
            return [_passkey_of(row) for row in rows]

    async def used(self, credential_id: str, old_count: int, new_count: int, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcPasskeyRow)
                .where(
                    OidcPasskeyRow.credential_id == credential_id,
                    OidcPasskeyRow.sign_count == old_count,
                )
                .values(sign_count=new_count, last_used_at=now)
            )
            return rowcount(result) > 0

    async def remove(self, user_id: str, credential_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcPasskeyRow).where(
                    OidcPasskeyRow.credential_id == credential_id,
                    OidcPasskeyRow.user_id == user_id,
                )
            )
            return rowcount(result) > 0
