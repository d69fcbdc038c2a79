"""Device authorizations (RFC 8628) in ``oidc_device_codes``. Every state change is one
conditional UPDATE, so two replicas never both approve, redeem or admit a poll early."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.errors import Conflict
from tokend.oidc.models import OidcDeviceCodeRow
from tokend.oidc.records import DeviceAuthorization, DevicePoll, DeviceStatus
from tokend.oidc.sql._rows import rowcount, scope_text, scopes_of
from tokend.store.engine import Database

#: RFC 8628 §3.5: "the interval MUST be increased by 5 seconds" on every slow_down.
SLOW_DOWN_S = 5
_ROW = OidcDeviceCodeRow


def _device_of(row: OidcDeviceCodeRow) -> DeviceAuthorization:
    return DeviceAuthorization(
        device_code_hash=row.device_code_hash,
        user_code_hash=row.user_code_hash,
        client_id=row.client_id,
        scopes=scopes_of(row.scope),
        status=DeviceStatus(row.status),
        interval_s=row.interval_s,
        next_poll_at=row.next_poll_at,
        expires_at=row.expires_at,
        user_id=row.user_id,
        auth_time=row.auth_time,
    )


@dataclass(frozen=True, slots=True)
class SqlDeviceCodes:
    db: Database

    async def add(self, device: DeviceAuthorization) -> None:
        row = OidcDeviceCodeRow(
            device_code_hash=device.device_code_hash,
            user_code_hash=device.user_code_hash,
            client_id=device.client_id,
            scope=scope_text(device.scopes),
            status=device.status.value,
            interval_s=device.interval_s,
            next_poll_at=device.next_poll_at,
            expires_at=device.expires_at,
            user_id=device.user_id,
            auth_time=device.auth_time,
        )
        try:
            async with self.db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict("the user code is taken") from None

    async def pending(
        self, user_code_hashes: Sequence[str], now: datetime
    ) -> DeviceAuthorization | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(_ROW).where(
                    _ROW.user_code_hash.in_(list(user_code_hashes)),
                    _ROW.status == DeviceStatus.PENDING.value,
                    _ROW.expires_at > now,
                )
            )
            return _device_of(row) if row is not None else None

    async def decide(
        self,
        device_code_hash: str,
        user_id: str,
        auth_time: datetime,
        approved: bool,
        now: datetime,
    ) -> bool:
        status = DeviceStatus.APPROVED if approved else DeviceStatus.DENIED
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(_ROW)
                .where(
                    _ROW.device_code_hash == device_code_hash,
                    _ROW.status == DeviceStatus.PENDING.value,
                    _ROW.expires_at > now,
                )
                .values(status=status.value, user_id=user_id, auth_time=auth_time)
            )
            return rowcount(result) == 1

    async def poll(self, device_code_hash: str, client_id: str, now: datetime) -> DevicePoll | None:
        async with self.db.sessions.begin() as session:
            row = await session.get(_ROW, device_code_hash)
            if row is None or row.client_id != client_id:
                return None
            interval_s = row.interval_s
            on_time = await session.execute(
                update(_ROW)
                .where(
                    _ROW.device_code_hash == device_code_hash,
                    _ROW.next_poll_at <= now,
                    _ROW.interval_s == interval_s,
                )
                .values(next_poll_at=now + timedelta(seconds=interval_s))
            )
            too_soon = rowcount(on_time) == 0
            if too_soon:
                await session.execute(
                    update(_ROW)
                    .where(_ROW.device_code_hash == device_code_hash)
                    .values(
                        interval_s=_ROW.interval_s + SLOW_DOWN_S,
                        next_poll_at=now + timedelta(seconds=interval_s + SLOW_DOWN_S),
                    )
                )
            await session.refresh(row)
            return DevicePoll(_device_of(row), too_soon)

    async def redeem(self, device_code_hash: str, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(_ROW)
                .where(
                    _ROW.device_code_hash == device_code_hash,
                    _ROW.status == DeviceStatus.APPROVED.value,
                    _ROW.expires_at > now,
                )
                .values(status=DeviceStatus.REDEEMED.value)
            )
            return rowcount(result) == 1

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(delete(_ROW).where(_ROW.expires_at <= now))
            return rowcount(result)
