"""The vault's clients and tokens through SQLAlchemy (branches: branches_sql, OAuth states:
states_sql).

Secrets are sealed (:mod:`tokend.vault.sealing`) on the way in and opened on the way out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import Database
from tokend.vault.errors import AlreadyExists, ClientNotFound
from tokend.vault.models import (
    ConnectionStatus,
    VaultBranch,
    VaultClient,
    VaultToken,
)
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import ClientRecord, DueConnection, TokenRecord
from tokend.vault.refresh_statements import READ_CONNECTION, READ_CONNECTIONS, SAVE_REFRESHED
from tokend.vault.schemas import ClientCreate, ClientUpdate
from tokend.vault.sealing import RowSealer
from tokend.vault.sweep_connection import Sessions, hold_connection


class VaultStore:
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
    async def pinned(self) -> AsyncIterator[VaultStore]:
        """This store, its statements taking turns on one connection held for the block."""
        async with hold_connection(self._db.engine) as sessions:
            yield VaultStore(self._db, self._cipher, self._clock, sessions=sessions)

    # -- clients -----------------------------------------------------------------------------

    async def create_client(self, draft: ClientCreate) -> tuple[ClientRecord, VaultBranch | None]:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            if await session.scalar(select(VaultClient.id).filter_by(client_id=draft.client_id)):
                raise AlreadyExists("Client already registered")
            if draft.branch_id is not None and await session.scalar(
                select(VaultBranch.id).filter_by(branch_id=draft.branch_id)
            ):
                raise AlreadyExists("Branch ID already exists")
            row = VaultClient(
                provider=draft.provider,
                issuer=draft.issuer,
                client_id=draft.client_id,
                client_secret_enc="",
                redirect_uri=draft.redirect_uri,
                scopes=" ".join(draft.scopes) if draft.scopes else None,
                webhook_url=draft.webhook_url,
                is_active=draft.is_active,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await self._flush(session, "Client already registered")
            # The id is known only now: the ciphertexts are bound to it.
            row.client_secret_enc = self._sealer.seal(row.id, "client_secret", draft.client_secret)
            if draft.webhook_secret is not None:
                row.webhook_secret_enc = self._sealer.seal(
                    row.id, "webhook_secret", draft.webhook_secret
                )
            branch = None
            if draft.branch_id is not None:
                branch = VaultBranch(
                    branch_id=draft.branch_id,
                    client_id=row.id,
                    branch_name=draft.workspace_name,
                    email=draft.workspace_email,
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(branch)
            await self._flush(session, "Branch ID already exists")
            return self._sealer.client(row), branch

    async def client(self, client_pk: int) -> ClientRecord:
        async with self._sessions() as session:
            row = await session.get(VaultClient, client_pk)
            if row is None:
                raise ClientNotFound
            return self._sealer.client(row)

    async def client_by_oauth_id(self, client_id: str) -> ClientRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(VaultClient).filter_by(client_id=client_id))
            return None if row is None else self._sealer.client(row)

    async def clients(self, skip: int, limit: int) -> list[ClientRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(VaultClient).order_by(VaultClient.id).offset(skip).limit(limit)
            )
            return [self._sealer.client(row) for row in rows]

    async def update_client(self, client_pk: int, changes: ClientUpdate) -> ClientRecord:
        values = changes.model_dump(exclude_unset=True)
        async with self._sessions.begin() as session:
            row = await session.get(VaultClient, client_pk, with_for_update=True)
            if row is None:
                raise ClientNotFound
            for name in ("redirect_uri", "provider", "issuer", "webhook_url", "is_active"):
                if name in values and (
                    values[name] is not None or name in ("issuer", "webhook_url")
                ):
                    setattr(row, name, values[name])
            if "scopes" in values:
                row.scopes = " ".join(values["scopes"]) if values["scopes"] else None
            if changes.client_secret is not None:
                row.client_secret_enc = self._sealer.seal(
                    row.id, "client_secret", changes.client_secret
                )
            if changes.webhook_secret is not None:
                row.webhook_secret_enc = self._sealer.seal(
                    row.id, "webhook_secret", changes.webhook_secret
                )
            row.updated_at = self._clock.now()
            return self._sealer.client(row)

    async def delete_client(self, client_pk: int) -> None:
        """Seed 001: deleting a client deletes its branches, tokens and states (FK cascade)."""
        async with self._sessions.begin() as session:
            row = await session.get(VaultClient, client_pk)
            if row is None:
                raise ClientNotFound
            await session.delete(row)

    # -- tokens ------------------------------------------------------------------------------

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

    # -- helpers -----------------------------------------------------------------------------

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

    async def _flush(self, session: AsyncSession, conflict: str) -> None:
        try:
            await session.flush()
        except IntegrityError:
            # A concurrent insert won the unique constraint after our check.
            raise AlreadyExists(conflict) from None


def _expiry(now: datetime, expires_in_s: int | None) -> datetime | None:
    return None if expires_in_s is None else now + timedelta(seconds=expires_in_s)
