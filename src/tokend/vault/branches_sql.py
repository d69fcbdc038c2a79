"""Seed 001 branches (business locations of a client) through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tokend.core.clock import Clock
from tokend.store.engine import Database
from tokend.vault.errors import AlreadyExists, BranchNotFound, ClientNotFound
from tokend.vault.models import VaultBranch, VaultClient
from tokend.vault.schemas import BranchCreate, BranchUpdate


class BranchStore:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def create_branch(self, draft: BranchCreate) -> VaultBranch:
        now = self._clock.now()
        async with self._db.sessions.begin() as session:
            if await session.get(VaultClient, draft.client_id) is None:
                raise ClientNotFound
            if await session.scalar(select(VaultBranch.id).filter_by(branch_id=draft.branch_id)):
                raise AlreadyExists("Branch ID already exists")
            row = VaultBranch(**draft.model_dump(), created_at=now, updated_at=now)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                # A concurrent insert won the unique constraint after our check.
                raise AlreadyExists("Branch ID already exists") from None
            return row

    async def branch(self, branch_pk: int) -> VaultBranch:
        async with self._db.sessions() as session:
            row = await session.get(VaultBranch, branch_pk)
            if row is None:
                raise BranchNotFound
            return row

    async def branch_by_identifier(self, branch_id: str) -> VaultBranch:
        async with self._db.sessions() as session:
            row = await session.scalar(select(VaultBranch).filter_by(branch_id=branch_id))
            if row is None:
                raise BranchNotFound
            return row

    async def find(
        self,
        skip: int,
        limit: int,
        *,
        client_pks: Sequence[int] | None = None,
        location_id: str | None = None,
    ) -> list[VaultBranch]:
        query = select(VaultBranch).order_by(VaultBranch.id).offset(skip).limit(limit)
        if client_pks is not None:
            query = query.where(VaultBranch.client_id.in_(client_pks))
        if location_id is not None:
            query = query.where(VaultBranch.location_id == location_id)
        async with self._db.sessions() as session:
            return list(await session.scalars(query))

    async def update_branch(self, branch_pk: int, changes: BranchUpdate) -> VaultBranch:
        values = changes.model_dump(exclude_unset=True)
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultBranch, branch_pk, with_for_update=True)
            if row is None:
                raise BranchNotFound
            for name, value in values.items():
                if name != "is_active" or value is not None:
                    setattr(row, name, value)
            row.updated_at = self._clock.now()
            return row

    async def delete_branch(self, branch_pk: int) -> None:
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultBranch, branch_pk)
            if row is None:
                raise BranchNotFound
            await session.delete(row)
