"""SQLAlchemy implementation of :class:`tokend.gateway.stores.ConsumerStore`."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher
from tokend.core.errors import Conflict
from tokend.gateway.models import GatewayConsumerRow
from tokend.gateway.records import ConsumerRecord, Credential
from tokend.store.engine import Database


class SqlConsumers:
    def __init__(self, database: Database, cipher: FieldCipher, clock: Clock) -> None:
        self._db = database
        self._cipher = cipher
        self._clock = clock

    async def credential_by_key_hash(self, api_key_hash: str) -> Credential | None:
        async with self._db.sessions() as session:
            row = await session.scalar(
                select(GatewayConsumerRow).where(
                    GatewayConsumerRow.api_key_hash == api_key_hash,
                    GatewayConsumerRow.revoked_at.is_(None),
                )
            )
        if row is None:
            return None
        return Credential(
            consumer_id=row.id,
            key=row.jwt_key,
            secret=self._cipher.decrypt_text(row.jwt_secret_enc, aad=row.id),
            username=row.username,
        )

    async def create(
        self, username: str, api_key_hash: str, credential: Credential
    ) -> ConsumerRecord:
        row = self._row(username, api_key_hash, credential)
        try:
            async with self._db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"a consumer named {username!r} already exists") from None
        return _record(row)

    async def set_api_key(self, username: str, api_key_hash: str, credential: Credential) -> bool:
        async with self._db.sessions.begin() as session:
            row = await session.scalar(
                select(GatewayConsumerRow).where(GatewayConsumerRow.username == username)
            )
            if row is None:
                session.add(self._row(username, api_key_hash, credential))
                return True
            if row.api_key_hash == api_key_hash and row.revoked_at is None:
                return False
            row.api_key_hash = api_key_hash
            row.revoked_at = None
            return True

    async def list_all(self) -> list[ConsumerRecord]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(GatewayConsumerRow).order_by(GatewayConsumerRow.created_at)
            )
            return [_record(row) for row in rows]

    async def revoke(self, consumer_id: str) -> ConsumerRecord | None:
        async with self._db.sessions.begin() as session:
            row = await session.get(GatewayConsumerRow, consumer_id)
            if row is None:
                return None
            if row.revoked_at is None:
                await session.execute(
                    update(GatewayConsumerRow)
                    .where(GatewayConsumerRow.id == consumer_id)
                    .values(revoked_at=self._clock.now())
                )
                await session.refresh(row)
            return _record(row)

    def _row(self, username: str, api_key_hash: str, credential: Credential) -> GatewayConsumerRow:
        return GatewayConsumerRow(
            id=credential.consumer_id,
            username=username,
            api_key_hash=api_key_hash,
            jwt_key=credential.key,
            jwt_secret_enc=self._cipher.encrypt_text(credential.secret, aad=credential.consumer_id),
            created_at=self._clock.now(),
            revoked_at=None,
        )


def _record(row: GatewayConsumerRow) -> ConsumerRecord:
    return ConsumerRecord(
        consumer_id=row.id,
        username=row.username,
        key=row.jwt_key,
        api_key_hash=row.api_key_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
