"""Seed 001 clients (a tenant's OAuth app at a provider) through SQLAlchemy."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import Database
from tokend.vault.errors import AlreadyExists, ClientNotFound
from tokend.vault.models import VaultBranch, VaultClient
from tokend.vault.records import (
    KEEP,
    BranchRecord,
    ClientChanges,
    ClientRecord,
    NewBranch,
    NewClient,
)
from tokend.vault.sql.branches import BRANCH_TAKEN, branch_columns, branch_record
from tokend.vault.sql.sealing import RowSealer

CLIENT_TAKEN = "Client already registered"


class SqlClients:
    def __init__(self, database: Database, cipher: FieldCipher, clock: Clock) -> None:
        self._db = database
        self._sealer = RowSealer(cipher)
        self._clock = clock

    async def register(
        self, client: NewClient, first_branch: NewBranch | None
    ) -> tuple[ClientRecord, BranchRecord | None]:
        now = self._clock.now()
        async with self._db.sessions.begin() as session:
            if await session.scalar(select(VaultClient.id).filter_by(client_id=client.client_id)):
                raise AlreadyExists(CLIENT_TAKEN)
            if first_branch is not None and await session.scalar(
                select(VaultBranch.id).filter_by(branch_id=first_branch.branch_id)
            ):
                raise AlreadyExists(BRANCH_TAKEN)
            row = VaultClient(
                provider=client.provider,
                issuer=client.issuer,
                client_id=client.client_id,
                client_secret_enc="",
                redirect_uri=client.redirect_uri,
                scopes=_scopes(client.scopes),
                webhook_url=client.webhook_url,
                is_active=client.is_active,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await _flush(session, CLIENT_TAKEN)
            # The id is known only now: the ciphertexts are bound to it.
            row.client_secret_enc = self._sealer.seal(row.id, "client_secret", client.client_secret)
            if client.webhook_secret is not None:
                row.webhook_secret_enc = self._sealer.seal(
                    row.id, "webhook_secret", client.webhook_secret
                )
            branch = None
            if first_branch is not None:
                branch = VaultBranch(
                    client_id=row.id,
                    **branch_columns(first_branch),
                    created_at=now,
                    updated_at=now,
                )
                session.add(branch)
            await _flush(session, BRANCH_TAKEN)
            return self._sealer.client(row), None if branch is None else branch_record(branch)

    async def client(self, client_pk: int) -> ClientRecord:
        async with self._db.sessions() as session:
            row = await session.get(VaultClient, client_pk)
            if row is None:
                raise ClientNotFound
            return self._sealer.client(row)

    async def client_by_oauth_id(self, client_id: str) -> ClientRecord | None:
        async with self._db.sessions() as session:
            row = await session.scalar(select(VaultClient).filter_by(client_id=client_id))
            return None if row is None else self._sealer.client(row)

    async def clients(self, skip: int, limit: int) -> list[ClientRecord]:
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(VaultClient).order_by(VaultClient.id).offset(skip).limit(limit)
            )
            return [self._sealer.client(row) for row in rows]

    async def update_client(self, client_pk: int, changes: ClientChanges) -> ClientRecord:
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultClient, client_pk, with_for_update=True)
            if row is None:
                raise ClientNotFound
            if changes.redirect_uri is not None:
                row.redirect_uri = changes.redirect_uri
            if changes.provider is not None:
                row.provider = changes.provider
            if changes.is_active is not None:
                row.is_active = changes.is_active
            if changes.issuer is not KEEP:
                row.issuer = changes.issuer
            if changes.webhook_url is not KEEP:
                row.webhook_url = changes.webhook_url
            if changes.scopes is not KEEP:
                row.scopes = _scopes(changes.scopes)
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
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultClient, client_pk)
            if row is None:
                raise ClientNotFound
            # Its branches, tokens and states go with it: ON DELETE CASCADE.
            await session.delete(row)


def _scopes(scopes: tuple[str, ...]) -> str | None:
    return " ".join(scopes) if scopes else None


async def _flush(session: AsyncSession, conflict: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # A concurrent insert won the unique constraint after our check.
        raise AlreadyExists(conflict) from None
