"""In-memory stores of the vault, held to the same contracts as the SQL ones
(``test_*_store_contract.py``). One :class:`MemoryVault` stands for one database: the stores
made on it share its rows, so deleting a client takes its branches, tokens and states along,
as the foreign keys' ON DELETE CASCADE does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from tokend.core.clock import Clock
from tokend.vault.errors import AlreadyExists, BranchNotFound, ClientNotFound
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import (
    KEEP,
    BranchChanges,
    BranchRecord,
    ClientChanges,
    ClientRecord,
    ConnectionStatus,
    ConsumedState,
    DueConnection,
    NewBranch,
    NewClient,
    TokenRecord,
    Unchanged,
)

T = TypeVar("T")


@dataclass
class _Token:
    record: TokenRecord
    next_attempt_at: datetime | None = None


@dataclass
class _State:
    client_pk: int
    code_verifier: str | None
    expires_at: datetime
    is_used: bool = False
    error: str | None = None


@dataclass
class MemoryVault:
    """The rows of one in-memory vault database."""

    clock: Clock
    clients: dict[int, ClientRecord] = field(default_factory=dict)
    branches: dict[int, BranchRecord] = field(default_factory=dict)
    tokens: dict[int, _Token] = field(default_factory=dict)
    states: dict[str, _State] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_id(self) -> int:
        return next(self._ids)

    def client(self, client_pk: int) -> ClientRecord:
        found = self.clients.get(client_pk)
        if found is None:
            raise ClientNotFound
        return found

    def branch_taken(self, branch_id: str) -> bool:
        return any(b.branch_id == branch_id for b in self.branches.values())

    def new_branch(self, client_pk: int, branch: NewBranch) -> BranchRecord:
        now = self.clock.now()
        record = BranchRecord(
            id=self.next_id(),
            branch_id=branch.branch_id,
            client_pk=client_pk,
            branch_name=branch.branch_name,
            email=branch.email,
            description=branch.description,
            account_id=branch.account_id,
            location_id=branch.location_id,
            is_active=branch.is_active,
            created_at=now,
            updated_at=now,
        )
        self.branches[record.id] = record
        return record


class MemoryClients:
    def __init__(self, vault: MemoryVault) -> None:
        self._vault = vault

    async def register(
        self, client: NewClient, first_branch: NewBranch | None
    ) -> tuple[ClientRecord, BranchRecord | None]:
        vault = self._vault
        if await self.client_by_oauth_id(client.client_id) is not None:
            raise AlreadyExists("Client already registered")
        if first_branch is not None and vault.branch_taken(first_branch.branch_id):
            raise AlreadyExists("Branch ID already exists")
        now = vault.clock.now()
        record = ClientRecord(
            id=vault.next_id(),
            provider=client.provider,
            issuer=client.issuer,
            client_id=client.client_id,
            client_secret=client.client_secret,
            redirect_uri=client.redirect_uri,
            scopes=client.scopes,
            webhook_url=client.webhook_url,
            webhook_secret=client.webhook_secret,
            is_active=client.is_active,
            created_at=now,
            updated_at=now,
        )
        vault.clients[record.id] = record
        branch = None if first_branch is None else vault.new_branch(record.id, first_branch)
        return record, branch

    async def client(self, client_pk: int) -> ClientRecord:
        return self._vault.client(client_pk)

    async def client_by_oauth_id(self, client_id: str) -> ClientRecord | None:
        return next((c for c in self._vault.clients.values() if c.client_id == client_id), None)

    async def clients(self, skip: int, limit: int) -> list[ClientRecord]:
        return sorted(self._vault.clients.values(), key=lambda c: c.id)[skip : skip + limit]

    async def update_client(self, client_pk: int, changes: ClientChanges) -> ClientRecord:
        current = self._vault.client(client_pk)
        updated = replace(
            current,
            client_secret=_given(changes.client_secret, current.client_secret),
            redirect_uri=_given(changes.redirect_uri, current.redirect_uri),
            provider=_given(changes.provider, current.provider),
            is_active=_given(changes.is_active, current.is_active),
            issuer=current.issuer if changes.issuer is KEEP else changes.issuer,
            scopes=current.scopes if changes.scopes is KEEP else changes.scopes,
            webhook_url=current.webhook_url if changes.webhook_url is KEEP else changes.webhook_url,
            webhook_secret=_given(changes.webhook_secret, current.webhook_secret),
            updated_at=self._vault.clock.now(),
        )
        self._vault.clients[client_pk] = updated
        return updated

    async def delete_client(self, client_pk: int) -> None:
        vault = self._vault
        vault.client(client_pk)
        del vault.clients[client_pk]
        vault.branches = {k: b for k, b in vault.branches.items() if b.client_pk != client_pk}
        vault.tokens = {k: t for k, t in vault.tokens.items() if t.record.client_pk != client_pk}
        vault.states = {k: s for k, s in vault.states.items() if s.client_pk != client_pk}


class MemoryBranches:
    def __init__(self, vault: MemoryVault) -> None:
        self._vault = vault

    async def add_branch(self, client_pk: int, branch: NewBranch) -> BranchRecord:
        self._vault.client(client_pk)
        if self._vault.branch_taken(branch.branch_id):
            raise AlreadyExists("Branch ID already exists")
        return self._vault.new_branch(client_pk, branch)

    async def branch(self, branch_pk: int) -> BranchRecord:
        found = self._vault.branches.get(branch_pk)
        if found is None:
            raise BranchNotFound
        return found

    async def branch_by_identifier(self, branch_id: str) -> BranchRecord:
        for branch in self._vault.branches.values():
            if branch.branch_id == branch_id:
                return branch
        raise BranchNotFound

    async def branches(
        self,
        skip: int,
        limit: int,
        *,
        client_pks: Sequence[int] | None = None,
        location_id: str | None = None,
    ) -> list[BranchRecord]:
        found = [
            b
            for b in sorted(self._vault.branches.values(), key=lambda b: b.id)
            if (client_pks is None or b.client_pk in client_pks)
            and (location_id is None or b.location_id == location_id)
        ]
        return found[skip : skip + limit]

    async def update_branch(self, branch_pk: int, changes: BranchChanges) -> BranchRecord:
        current = await self.branch(branch_pk)
        updated = replace(
            current,
            branch_name=_kept(changes.branch_name, current.branch_name),
            email=_kept(changes.email, current.email),
            description=_kept(changes.description, current.description),
            account_id=_kept(changes.account_id, current.account_id),
            location_id=_kept(changes.location_id, current.location_id),
            is_active=_given(changes.is_active, current.is_active),
            updated_at=self._vault.clock.now(),
        )
        self._vault.branches[branch_pk] = updated
        return updated

    async def delete_branch(self, branch_pk: int) -> None:
        await self.branch(branch_pk)
        del self._vault.branches[branch_pk]


class MemoryConnections:
    def __init__(self, vault: MemoryVault) -> None:
        self._vault = vault

    @asynccontextmanager
    async def pinned(self) -> AsyncIterator[MemoryConnections]:
        yield self

    async def store_connection(self, client_pk: int, tokens: TokenSet) -> TokenRecord:
        vault = self._vault
        now = vault.clock.now()
        for row in vault.tokens.values():
            if row.record.client_pk == client_pk and row.record.status != "superseded":
                row.record = replace(
                    row.record,
                    status=ConnectionStatus.SUPERSEDED,
                    generation=row.record.generation + 1,
                    updated_at=now,
                )
        record = TokenRecord(
            id=vault.next_id(),
            client_pk=client_pk,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_type=tokens.token_type,
            scope=tokens.scope,
            expires_at=_expiry(now, tokens.expires_in_s),
            status=ConnectionStatus.ACTIVE,
            generation=1,
            failure_count=0,
            last_error=None,
            last_refreshed_at=None,
            created_at=now,
            updated_at=now,
        )
        vault.tokens[record.id] = _Token(record)
        return record

    async def connection(self, client_pk: int) -> tuple[ClientRecord, TokenRecord | None]:
        return self._vault.client(client_pk), await self.current_token(client_pk)

    async def connections(
        self, client_pks: Sequence[int]
    ) -> dict[int, tuple[ClientRecord, TokenRecord | None]]:
        return {
            pk: (self._vault.clients[pk], await self.current_token(pk))
            for pk in client_pks
            if pk in self._vault.clients
        }

    async def current_token(self, client_pk: int) -> TokenRecord | None:
        mine = [
            row.record
            for row in self._vault.tokens.values()
            if row.record.client_pk == client_pk and row.record.status != "superseded"
        ]
        return max(mine, key=lambda t: t.id, default=None)

    async def save_refreshed(self, current: TokenRecord, tokens: TokenSet) -> TokenRecord | None:
        now = self._vault.clock.now()
        saved = replace(
            current,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or current.refresh_token,
            token_type=tokens.token_type,
            scope=tokens.scope or current.scope,
            expires_at=_expiry(now, tokens.expires_in_s),
            status=ConnectionStatus.ACTIVE,
            failure_count=0,
            last_error=None,
            last_refreshed_at=now,
        )
        return self._update_if_unchanged(current, saved, next_attempt_at=None)

    async def record_failure(
        self, current: TokenRecord, error: str, next_attempt_at: datetime, *, exhausted: bool
    ) -> TokenRecord | None:
        failed = replace(
            current,
            failure_count=current.failure_count + 1,
            last_error=error[:255],
            status=ConnectionStatus.REFRESH_EXHAUSTED if exhausted else current.status,
        )
        return self._update_if_unchanged(current, failed, next_attempt_at=next_attempt_at)

    async def mark(
        self, current: TokenRecord, status: ConnectionStatus, error: str | None
    ) -> TokenRecord | None:
        marked = replace(current, status=status, last_error=error[:255] if error else None)
        row = self._vault.tokens.get(current.id)
        return self._update_if_unchanged(
            current, marked, next_attempt_at=None if row is None else row.next_attempt_at
        )

    async def claim_due(self, before: datetime, limit: int, lease_s: float) -> list[DueConnection]:
        now = self._vault.clock.now()
        due = sorted(
            (
                row
                for row in self._vault.tokens.values()
                if row.record.status == "active"
                and row.record.refresh_token is not None
                and row.record.expires_at is not None
                and row.record.expires_at <= before
                and (row.next_attempt_at is None or row.next_attempt_at <= now)
            ),
            key=lambda row: row.record.expires_at or now,
        )[:limit]
        for row in due:
            row.next_attempt_at = now + timedelta(seconds=lease_s)
        return [DueConnection(r.record.id, r.record.client_pk, r.record.generation) for r in due]

    async def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self._vault.tokens.values():
            counts[row.record.status.value] = counts.get(row.record.status.value, 0) + 1
        return counts

    def _update_if_unchanged(
        self, current: TokenRecord, updated: TokenRecord, *, next_attempt_at: datetime | None
    ) -> TokenRecord | None:
        """``updated`` stored at the next generation, if the row is still at ``current``'s."""
        row = self._vault.tokens.get(current.id)
        if row is None or row.record.generation != current.generation:
            return None
        row.record = replace(
            updated, generation=current.generation + 1, updated_at=self._vault.clock.now()
        )
        row.next_attempt_at = next_attempt_at
        return row.record


class MemoryStates:
    def __init__(self, vault: MemoryVault) -> None:
        self._vault = vault

    async def save_state(
        self, client_pk: int, state_hash: str, code_verifier: str | None, ttl_s: float
    ) -> None:
        expires_at = self._vault.clock.now() + timedelta(seconds=ttl_s)
        self._vault.states[state_hash] = _State(client_pk, code_verifier, expires_at)

    async def consume_state(
        self, candidates: Sequence[str], error: str | None = None
    ) -> ConsumedState | None:
        now = self._vault.clock.now()
        for state_hash in candidates:
            state = self._vault.states.get(state_hash)
            if state is not None and not state.is_used and state.expires_at > now:
                state.is_used, state.error = True, error
                return ConsumedState(state.client_pk, state.code_verifier)
        return None


def _given(value: T | None, current: T) -> T:
    return current if value is None else value


def _kept(value: str | Unchanged | None, current: str | None) -> str | None:
    return current if value is KEEP else value


def _expiry(now: datetime, expires_in_s: int | None) -> datetime | None:
    return None if expires_in_s is None else now + timedelta(seconds=expires_in_s)
