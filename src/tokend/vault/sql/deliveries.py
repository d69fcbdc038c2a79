"""Webhook deliveries (``stores.WebhookDeliveries``) through SQLAlchemy."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, select, update

from tokend.store.engine import Database
from tokend.vault.models import VaultWebhookDelivery
from tokend.vault.records import DeliveryStatus, WebhookDelivery


class SqlWebhookDeliveries:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def queued(self, client_pk: int, event: Mapping[str, object], now: datetime) -> None:
        event_id = str(event["id"])
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultWebhookDelivery, event_id)
            if row is None:
                occurred = event.get("occurred_at")
                session.add(
                    VaultWebhookDelivery(
                        event_id=event_id,
                        client_id=client_pk,
                        event_type=str(event.get("type", ""))[:64],
                        occurred_at=(
                            datetime.fromisoformat(occurred) if isinstance(occurred, str) else now
                        ),
                        status=DeliveryStatus.PENDING.value,
                        attempts=0,
                        event=json.dumps(event, separators=(",", ":"), sort_keys=True),
                        updated_at=now,
                    )
                )
                return
            row.status, row.updated_at = DeliveryStatus.PENDING.value, now

    async def attempted(
        self,
        event_id: str,
        status: DeliveryStatus,
        now: datetime,
        status_code: int | None = None,
        error: str | None = None,
    ) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                update(VaultWebhookDelivery)
                .where(VaultWebhookDelivery.event_id == event_id)
                .values(
                    status=status.value,
                    attempts=VaultWebhookDelivery.attempts + 1,
                    last_status_code=status_code,
                    last_error=error[:200] if error else None,
                    updated_at=now,
                )
            )

    async def of_client(self, client_pk: int, limit: int) -> Sequence[WebhookDelivery]:
        query = (
            select(VaultWebhookDelivery)
            .where(VaultWebhookDelivery.client_id == client_pk)
            .order_by(VaultWebhookDelivery.occurred_at.desc(), VaultWebhookDelivery.event_id)
            .limit(limit)
        )
        async with self._db.sessions() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def get(self, event_id: str) -> WebhookDelivery | None:
        async with self._db.sessions() as session:
            row = await session.get(VaultWebhookDelivery, event_id)
            return _record(row) if row is not None else None

    async def purge(self, before: datetime) -> int:
        async with self._db.sessions.begin() as session:
            done = await session.execute(
                delete(VaultWebhookDelivery).where(VaultWebhookDelivery.occurred_at < before)
            )
            return int(getattr(done, "rowcount", 0) or 0)


def _record(row: VaultWebhookDelivery) -> WebhookDelivery:
    return WebhookDelivery(
        event_id=row.event_id,
        client_pk=row.client_id,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        updated_at=row.updated_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        event=json.loads(row.event),
    )
