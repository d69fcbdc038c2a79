"""The clients' connections (their tokens and refresh bookkeeping) through SQLAlchemy.

A sweep runs this store's statements on one held connection (:meth:`SqlConnections.pinned`,
:mod:`tokend.vault.sql.sweep_connection`); the statements every refresh makes are built once
(:mod:`tokend.vault.sql.refresh_statements`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import Database
from tokend.vault.errors import ClientNotFound
from tokend.vault.models import VaultToken
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import ClientRecord, ConnectionStatus, DueConnection, TokenRecord
from tokend.vault.sql.refresh_statements import READ_CONNECTION, READ_CONNECTIONS, SAVE_REFRESHED
from tokend.vault.sql.sealing import RowSealer
from tokend.vault.sql.sweep_connection import Sessions, hold_connection


class SqlConnections:
    def __init__(
        self,
        database: Database,
        cipher: FieldCipher,
        clock: Clock,
        *,
        sessions: Sessions | None = None,
    ) -> None:
        self._db = database
        self._sessions: Sessions = sessions or database.sessions
        self._cipher = cipher
        self._sealer = RowSealer(cipher)
        self._clock = clock

    @asynccontextmanager
    async def pinned(self) -> AsyncIterator[SqlConnections]:
        """This store, its statements taking turns on one connection held for the block."""
        async with hold_connection(self._db) as sessions:
            yield SqlConnections(self._db, self._cipher, self._clock, sessions=sessions)

    async def store_connection(self, client_pk: int, tokens: TokenSet) -> TokenRecord:
        """Seed 001: a new token replaces the client's previous ones."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            await session.execute(
                update(VaultToken)
                .where(
                    VaultToken.client_id == client_pk,
                    VaultToken.status != ConnectionStatus.SUPERSEDED.value,
                )
                .values(
                    is_valid=False,
                    status=ConnectionStatus.SUPERSEDED.value,
                    updated_at=now,
                    generation=VaultToken.generation + 1,
                )
            )
            row = VaultToken(
                client_id=client_pk,
                access_token_enc=self._sealer.seal(client_pk, "access_token", tokens.access_token),
                refresh_token_enc=self._sealer.seal(
                    client_pk, "refresh_token", tokens.refresh_token
                )
                if tokens.refresh_token
                else None,
                token_type=tokens.token_type,
                scope=tokens.scope,
                expires_at=_expiry(now, tokens.expires_in_s),
                is_valid=True,
                is_revoked=False,
                status=ConnectionStatus.ACTIVE.value,
                generation=1,
                failure_count=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return self._sealer.token(row)

    async def connection(self, client_pk: int) -> tuple[ClientRecord, TokenRecord | None]:
        """The client and its current token, in one query (hot paths read both)."""
        async with self._sessions() as session:
            found = (await session.execute(READ_CONNECTION, {"client_pk": client_pk})).first()
        if found is None:
            raise ClientNotFound
        client, token = found
        return self._sealer.client(client), None if token is None else self._sealer.token(token)

    async def connections(
        self, client_pks: Sequence[int]
    ) -> dict[int, tuple[ClientRecord, TokenRecord | None]]:
        """``connection`` for many clients in one query; a client not found is left out."""
        async with self._sessions() as session:
            rows = (await session.execute(READ_CONNECTIONS, {"client_pks": list(client_pks)})).all()
        found: dict[int, tuple[ClientRecord, TokenRecord | None]] = {}
        for client, token in rows:
            if client.id not in found:  # its newest token; the older rows are not opened
                found[client.id] = (
                    self._sealer.client(client),
                    None if token is None else self._sealer.token(token),
                )
        return found

    async def current_token(self, client_pk: int) -> TokenRecord | None:
        """The client's latest token that was not replaced by a newer one."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(VaultToken)
                .where(
                    VaultToken.client_id == client_pk,
                    VaultToken.status != ConnectionStatus.SUPERSEDED.value,
                )
                .order_by(VaultToken.id.desc())
                .limit(1)
            )
            return None if row is None else self._sealer.token(row)

    async def save_refreshed(self, current: TokenRecord, tokens: TokenSet) -> TokenRecord | None:
        """Store a refresh's result; None if the row changed since ``current`` was read.

        RFC 6749 §6: the provider may issue a new refresh token; without one, the old stays.
        """
        now = self._clock.now()
        saved = replace(
            current,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or current.refresh_token,
            token_type=tokens.token_type,
            scope=tokens.scope or current.scope,
            expires_at=_expiry(now, tokens.expires_in_s),
            status=ConnectionStatus.ACTIVE,
            generation=current.generation + 1,
            failure_count=0,
            last_error=None,
            last_refreshed_at=now,
            updated_at=now,
        )
        params = {
            "row_id": current.id,
            "seen": current.generation,
            "new_access_token_enc": self._sealer.seal(
                current.client_pk, "access_token", tokens.access_token
            ),
            "new_refresh_token_enc": self._sealer.seal(
                current.client_pk, "refresh_token", tokens.refresh_token
            )
            if tokens.refresh_token
            else None,
            "new_token_type": saved.token_type,
            "new_scope": saved.scope,
            "new_expires_at": saved.expires_at,
            "new_generation": saved.generation,
            "now": now,
        }
        async with self._sessions.begin() as session:
            applied = (await session.execute(SAVE_REFRESHED, params)).first() is not None
        # The row holds exactly ``saved`` now, so it is not read back (nor decrypted again).
        return saved if applied else None

    async def record_failure(
        self, current: TokenRecord, error: str, next_attempt_at: datetime, *, exhausted: bool
    ) -> TokenRecord | None:
        values: dict[str, object] = {
            "failure_count": current.failure_count + 1,
            "next_attempt_at": next_attempt_at,
            "last_error": error[:255],
            "updated_at": self._clock.now(),
            "generation": current.generation + 1,
        }
        if exhausted:
            values["status"] = ConnectionStatus.REFRESH_EXHAUSTED.value
        return await self._update_if_unchanged(current, values)

    async def mark(
        self, current: TokenRecord, status: ConnectionStatus, error: str | None
    ) -> TokenRecord | None:
        """Mark the connection broken or revoked: the tokens stay stored but are never used."""
        values: dict[str, object] = {
            "status": status.value,
            "is_valid": False,
            "last_error": error[:255] if error else None,
            "updated_at": self._clock.now(),
            "generation": current.generation + 1,
        }
        if status is ConnectionStatus.REVOKED:
            values["is_revoked"] = True
        return await self._update_if_unchanged(current, values)

    async def claim_due(self, before: datetime, limit: int, lease_s: float) -> list[DueConnection]:
        """Claim up to ``limit`` active connections with a refresh token expiring before
        ``before`` and not backing off, soonest first.

        A claim is a lease: ``next_attempt_at`` moves ``lease_s`` ahead, so other sweepers pass
        these rows by until the refresh (or its failure) sets it again, or a crashed sweeper's
        lease runs out. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` keeps two sweepers claiming at
        the same moment from waiting on each other or taking the same rows.
        """
        now = self._clock.now()
        due = (
            select(VaultToken.id)
            .where(
                VaultToken.status == ConnectionStatus.ACTIVE.value,
                VaultToken.refresh_token_enc.is_not(None),
                VaultToken.expires_at.is_not(None),
                VaultToken.expires_at <= before,
                (VaultToken.next_attempt_at.is_(None)) | (VaultToken.next_attempt_at <= now),
            )
            .order_by(VaultToken.expires_at)
            .limit(limit)
        )
        if not self._db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        claim = (
            update(VaultToken)
            .where(VaultToken.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=now + timedelta(seconds=lease_s))
            .returning(VaultToken.id, VaultToken.client_id, VaultToken.generation)
            .execution_options(synchronize_session=False)
        )
        async with self._sessions.begin() as session:
            rows = (await session.execute(claim)).all()
        return [DueConnection(token_id, client_pk, gen) for token_id, client_pk, gen in rows]

    async def count_by_status(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(VaultToken.status, func.count()).group_by(VaultToken.status)
                )
            ).all()
        return {status: count for status, count in rows}

    async def _update_if_unchanged(
        self, current: TokenRecord, values: dict[str, object]
    ) -> TokenRecord | None:
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(VaultToken)
                .where(VaultToken.id == current.id, VaultToken.generation == current.generation)
                .values(**values)
                .returning(VaultToken)
                # A fresh session holds no objects to bring up to date: skip evaluating.
                .execution_options(synchronize_session=False)
            )
            row = result.scalar_one_or_none()
            return None if row is None else self._sealer.token(row)


def _expiry(now: datetime, expires_in_s: int | None) -> datetime | None:
    return None if expires_in_s is None else now + timedelta(seconds=expires_in_s)
