"""CIBA authentication requests in ``oidc_backchannel_requests``. Every state change is one
conditional UPDATE, so two replicas never both decide, redeem or admit a poll early."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from tokend.oidc.models import OidcBackchannelRequestRow
from tokend.oidc.records import (
    BackchannelPoll,
    BackchannelRequest,
    BackchannelStatus,
    TokenDeliveryMode,
)
from tokend.oidc.sql._rows import rowcount, scope_text, scopes_of
from tokend.store.engine import Database

#: CIBA Core §11: ``slow_down`` grows the interval "by at least 5 seconds" every time.
SLOW_DOWN_S = 5
#: The most requests the approval page lists at once.
PENDING_LISTED = 50
_ROW = OidcBackchannelRequestRow
_PENDING = BackchannelStatus.PENDING.value


def _request_of(row: OidcBackchannelRequestRow) -> BackchannelRequest:
    return BackchannelRequest(
        id=row.id,
        auth_req_id_hash=row.auth_req_id_hash,
        client_id=row.client_id,
        user_id=row.user_id,
        scopes=scopes_of(row.scope),
        binding_message=row.binding_message,
        delivery_mode=TokenDeliveryMode(row.delivery_mode),
        notification_enc=row.notification_enc,
        status=BackchannelStatus(row.status),
        interval_s=row.interval_s,
        next_poll_at=row.next_poll_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        auth_time=row.auth_time,
        amr=tuple(row.amr or ()),
        decision_token_hash=row.decision_token_hash,
        redeemed_at=row.redeemed_at,
    )


@dataclass(frozen=True, slots=True)
class SqlBackchannelRequests:
    db: Database

    async def add(self, request: BackchannelRequest) -> None:
        row = OidcBackchannelRequestRow(
            id=request.id,
            auth_req_id_hash=request.auth_req_id_hash,
            client_id=request.client_id,
            user_id=request.user_id,
            scope=scope_text(request.scopes),
            binding_message=request.binding_message,
            delivery_mode=request.delivery_mode.value,
            notification_enc=request.notification_enc,
            status=request.status.value,
            interval_s=request.interval_s,
            next_poll_at=request.next_poll_at,
            expires_at=request.expires_at,
            created_at=request.created_at,
            auth_time=request.auth_time,
            amr=list(request.amr),
            decision_token_hash=request.decision_token_hash,
            redeemed_at=request.redeemed_at,
        )
        async with self.db.sessions.begin() as session:
            session.add(row)

    async def get(self, request_id: str) -> BackchannelRequest | None:
        async with self.db.sessions() as session:
            row = await session.get(_ROW, request_id)
            return _request_of(row) if row is not None else None

    async def pending_of(self, user_id: str, now: datetime) -> Sequence[BackchannelRequest]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(_ROW)
                .where(_ROW.user_id == user_id, _ROW.status == _PENDING, _ROW.expires_at > now)
                .order_by(_ROW.created_at, _ROW.id)
                .limit(PENDING_LISTED)
            )
            return [_request_of(row) for row in rows]

    async def by_decision_token(
        self, token_hashes: Sequence[str], now: datetime
    ) -> BackchannelRequest | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(_ROW).where(
                    _ROW.decision_token_hash.in_(list(token_hashes)),
                    _ROW.status == _PENDING,
                    _ROW.expires_at > now,
                )
            )
            return _request_of(row) if row is not None else None

    async def set_decision_token(self, request_id: str, token_hash: str, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(_ROW)
                .where(_ROW.id == request_id, _ROW.status == _PENDING, _ROW.expires_at > now)
                .values(decision_token_hash=token_hash)
            )
            return rowcount(result) == 1

    async def decide(
        self,
        request_id: str,
        user_id: str,
        approved: bool,
        auth_time: datetime,
        amr: Sequence[str],
        now: datetime,
    ) -> BackchannelRequest | None:
        status = BackchannelStatus.APPROVED if approved else BackchannelStatus.DENIED
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(_ROW)
                .where(
                    _ROW.id == request_id,
                    _ROW.user_id == user_id,
                    _ROW.status == _PENDING,
                    _ROW.expires_at > now,
                )
                .values(
                    status=status.value,
                    auth_time=auth_time if approved else None,
                    amr=list(amr) if approved else [],
                    decision_token_hash=None,
                )
            )
            if rowcount(result) != 1:
                return None
            row = await session.get(_ROW, request_id, populate_existing=True)
            return _request_of(row) if row is not None else None

    async def poll(
        self, auth_req_id_hash: str, client_id: str, now: datetime
    ) -> BackchannelPoll | None:
        async with self.db.sessions.begin() as session:
            row = await session.scalar(
                select(_ROW).where(_ROW.auth_req_id_hash == auth_req_id_hash)
            )
            if row is None or row.client_id != client_id:
                return None
            interval_s = row.interval_s
            on_time = await session.execute(
                update(_ROW)
                .where(_ROW.id == row.id, _ROW.next_poll_at <= now, _ROW.interval_s == interval_s)
                .values(next_poll_at=now + timedelta(seconds=interval_s))
            )
            too_soon = rowcount(on_time) == 0
            if too_soon:
                await session.execute(
                    update(_ROW)
                    .where(_ROW.id == row.id)
                    .values(
                        interval_s=_ROW.interval_s + SLOW_DOWN_S,
                        next_poll_at=now + timedelta(seconds=interval_s + SLOW_DOWN_S),
                    )
                )
            await session.refresh(row)
            return BackchannelPoll(_request_of(row), too_soon)

    async def redeem(self, auth_req_id_hash: str, now: datetime) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(_ROW)
                .where(
                    _ROW.auth_req_id_hash == auth_req_id_hash,
                    _ROW.status == BackchannelStatus.APPROVED.value,
                    _ROW.expires_at > now,
                )
                .values(status=BackchannelStatus.REDEEMED.value, redeemed_at=now)
            )
            return rowcount(result) == 1

    async def purge(self, now: datetime) -> int:
        async with self.db.sessions.begin() as session:
            result = await session.execute(delete(_ROW).where(_ROW.expires_at <= now))
            return rowcount(result)
