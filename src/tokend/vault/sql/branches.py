"""Seed 001 branches (business locations of a client) through SQLAlchemy."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tokend.core.clock import Clock
from tokend.store.engine import Database
from tokend.vault.errors import AlreadyExists, BranchNotFound, ClientNotFound
from tokend.vault.models import VaultBranch, VaultClient
from tokend.vault.records import KEEP, BranchChanges, BranchRecord, NewBranch

BRANCH_TAKEN = "Branch ID already exists"


class SqlBranches:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    async def add_branch(self, client_pk: int, branch: NewBranch) -> BranchRecord:
        now = self._clock.now()
        async with self._db.sessions.begin() as session:
            if await session.get(VaultClient, client_pk) is None:
                raise ClientNotFound
            if await session.scalar(select(VaultBranch.id).filter_by(branch_id=branch.branch_id)):
                raise AlreadyExists(BRANCH_TAKEN)
            row = VaultBranch(
                client_id=client_pk, **branch_columns(branch), created_at=now, updated_at=now
            )
            session.add(row)
            try:
                await session.flush()
            except IntegrityError:
                # A concurrent insert won the unique constraint after our check.
                raise AlreadyExists(BRANCH_TAKEN) from None
            return branch_record(row)

    async def branch(self, branch_pk: int) -> BranchRecord:
        async with self._db.sessions() as session:
            row = await session.get(VaultBranch, branch_pk)
            if row is None:
                raise BranchNotFound
            return branch_record(row)

    async def branch_by_identifier(self, branch_id: str) -> BranchRecord:
        async with self._db.sessions() as session:
            row = await session.scalar(select(VaultBranch).filter_by(branch_id=branch_id))
            if row is None:
                raise BranchNotFound
            return branch_record(row)

    async def branches(
        self,
        skip: int,
        limit: int,
        *,
        client_pks: Sequence[int] | None = None,
        location_id: str | None = None,
    ) -> list[BranchRecord]:
        query = select(VaultBranch).order_by(VaultBranch.id).offset(skip).limit(limit)
        if client_pks is not None:
            query = query.where(VaultBranch.client_id.in_(client_pks))
        if location_id is not None:
            query = query.where(VaultBranch.location_id == location_id)
        async with self._db.sessions() as session:
            return [branch_record(row) for row in await session.scalars(query)]

    async def update_branch(self, branch_pk: int, changes: BranchChanges) -> BranchRecord:
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultBranch, branch_pk, with_for_update=True)
            if row is None:
                raise BranchNotFound
            if changes.branch_name is not KEEP:
                row.branch_name = changes.branch_name
            if changes.email is not KEEP:
                row.email = changes.email
            if changes.description is not KEEP:
                row.description = changes.description
            if changes.account_id is not KEEP:
                row.account_id = changes.account_id
            if changes.location_id is not KEEP:
                row.location_id = changes.location_id
            if changes.is_active is not None:
                row.is_active = changes.is_active
            row.updated_at = self._clock.now()
            return branch_record(row)

    async def delete_branch(self, branch_pk: int) -> None:
        async with self._db.sessions.begin() as session:
            row = await session.get(VaultBranch, branch_pk)
            if row is None:
                raise BranchNotFound
            await session.delete(row)


def branch_columns(branch: NewBranch) -> dict[str, object]:
    """The columns of a new branch row, but its client and timestamps."""
    return {
        "branch_id": branch.branch_id,
        "branch_name": branch.branch_name,
        "email": branch.email,
        "description": branch.description,
        "account_id": branch.account_id,
        "location_id": branch.location_id,
        "is_active": branch.is_active,
    }


def branch_record(row: VaultBranch) -> BranchRecord:
    return BranchRecord(
        id=row.id,
        branch_id=row.branch_id,
        client_pk=row.client_id,
        branch_name=row.branch_name,
        email=row.email,
        description=row.description,
        account_id=row.account_id,
        location_id=row.location_id,
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
