"""The small interfaces the vault's logic needs; :mod:`tokend.vault.sql` implements them.

Every method takes and returns plain records (:mod:`tokend.vault.records`), decrypted: sealing
secrets at rest is the implementation's business. ``tests/unit/vault/test_*_store_contract.py``
hold each contract to the same assertions on the in-memory fakes, SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from tokend.vault.provider_client import TokenSet
from tokend.vault.records import (
    BranchChanges,
    BranchRecord,
    ClientChanges,
    ClientRecord,
    ConnectionStatus,
    ConsumedState,
    DeliveryStatus,
    DueConnection,
    NewBranch,
    NewClient,
    TokenRecord,
    WebhookDelivery,
)

# -- clients ----------------------------------------------------------------------------------


class ClientReads(Protocol):
    async def client(self, client_pk: int) -> ClientRecord:
        """The client, active or not; ``ClientNotFound`` if there is no such client."""
        ...

    async def client_by_oauth_id(self, client_id: str) -> ClientRecord | None:
        """The client registered with the provider's app id ``client_id``."""
        ...

    async def clients(self, skip: int, limit: int) -> list[ClientRecord]:
        """Clients in the order they were registered: ``skip`` of them, then ``limit`` at most."""
        ...


class ClientWrites(Protocol):
    async def register(
        self, client: NewClient, first_branch: NewBranch | None
    ) -> tuple[ClientRecord, BranchRecord | None]:
        """Store a client, and its first branch with it, or neither: ``AlreadyExists`` when
        the app id (checked first) or the branch id is taken, even by a concurrent call."""
        ...

    async def update_client(self, client_pk: int, changes: ClientChanges) -> ClientRecord:
        """Apply ``changes`` and stamp ``updated_at``; ``ClientNotFound``."""
        ...

    async def delete_client(self, client_pk: int) -> None:
        """Seed 001: the client goes with its branches, tokens and OAuth states;
        ``ClientNotFound``."""
        ...


class ClientStore(ClientReads, ClientWrites, Protocol):
    """Registration of clients (the seed's ``/clients`` API, the demo's start-up)."""


# -- branches ---------------------------------------------------------------------------------


class BranchReads(Protocol):
    async def branch(self, branch_pk: int) -> BranchRecord:
        """The branch by database id; ``BranchNotFound``."""
        ...

    async def branch_by_identifier(self, branch_id: str) -> BranchRecord:
        """The branch by the tenant's identifier; ``BranchNotFound``."""
        ...

    async def branches(
        self,
        skip: int,
        limit: int,
        *,
        client_pks: Sequence[int] | None = None,
        location_id: str | None = None,
    ) -> list[BranchRecord]:
        """Branches in id order, of ``client_pks`` (None: any client) and ``location_id``
        (None: any): ``skip`` of them, then ``limit`` at most."""
        ...


class BranchWrites(Protocol):
    async def add_branch(self, client_pk: int, branch: NewBranch) -> BranchRecord:
        """``ClientNotFound`` without the client; ``AlreadyExists`` if the branch id is taken."""
        ...

    async def update_branch(self, branch_pk: int, changes: BranchChanges) -> BranchRecord:
        """Apply ``changes`` and stamp ``updated_at``; ``BranchNotFound``."""
        ...

    async def delete_branch(self, branch_pk: int) -> None:
        """``BranchNotFound`` if there is no such branch."""
        ...


class BranchStore(BranchReads, BranchWrites, Protocol):
    """The seed's ``/branches`` API."""


# -- connections (a client's tokens) ----------------------------------------------------------


class NewConnections(Protocol):
    async def store_connection(self, client_pk: int, tokens: TokenSet) -> TokenRecord:
        """Seed 001: a new connection's tokens replace the client's previous ones (superseded,
        never handed out again); the new one is ``active`` at generation 1."""
        ...


class ConnectionReads(Protocol):
    async def connection(self, client_pk: int) -> tuple[ClientRecord, TokenRecord | None]:
        """The client and its current token; ``ClientNotFound`` if there is no such client."""
        ...

    async def connections(
        self, client_pks: Sequence[int]
    ) -> dict[int, tuple[ClientRecord, TokenRecord | None]]:
        """``connection`` of each client in one read; a client not found is not in the dict."""
        ...

    async def current_token(self, client_pk: int) -> TokenRecord | None:
        """The client's latest token that no newer one replaced, whatever its status."""
        ...


class ConnectionWrites(Protocol):
    """Each write applies only if the row is still at ``current.generation`` (else None), and
    then moves it to the next generation."""

    async def save_refreshed(self, current: TokenRecord, tokens: TokenSet) -> TokenRecord | None:
        """Store a refresh's result, ``active`` with no failures, keeping the old refresh token
        if none came (RFC 6749 §6)."""
        ...

    async def record_failure(
        self, current: TokenRecord, error: str, next_attempt_at: datetime, *, exhausted: bool
    ) -> TokenRecord | None:
        """Count a transient failure; not claimed again before ``next_attempt_at``; with
        ``exhausted``, ``refresh_exhausted``. The stored tokens stay as they are."""
        ...

    async def mark(
        self, current: TokenRecord, status: ConnectionStatus, error: str | None
    ) -> TokenRecord | None:
        """Mark the connection broken or revoked; the tokens are never handed out again."""
        ...


class DueConnections(Protocol):
    async def claim_due(self, before: datetime, limit: int, lease_s: float) -> list[DueConnection]:
        """Lease up to ``limit`` active connections with a refresh token, expiring before
        ``before`` and not backing off, soonest first; no claim returns them again for
        ``lease_s`` (nor before a recorded failure's ``next_attempt_at``)."""
        ...

    async def count_by_status(self) -> dict[str, int]:
        """How many token rows each status has (superseded ones included)."""
        ...


class RefreshStore(ConnectionReads, ConnectionWrites, DueConnections, Protocol):
    """Everything the refresher reads and writes."""

    def pinned(self) -> AbstractAsyncContextManager[RefreshStore]:
        """This store on one connection held for the block, for many short statements in a
        row (a sweep); each statement still stands alone and is committed as it returns."""
        ...


class ConnectionStore(NewConnections, RefreshStore, Protocol):
    """The clients' tokens: what the service stores and hands out, and the refresher renews."""


# -- OAuth states -----------------------------------------------------------------------------


class OAuthStates(Protocol):
    """Seed 001 states of the connect flow: one-time, expiring, bound to a client
    (RFC 6749 §10.12), stored by hash only."""

    async def save_state(
        self, client_pk: int, state_hash: str, code_verifier: str | None, ttl_s: float
    ) -> None:
        """Keep a state (by its hash) and its PKCE verifier for ``ttl_s``."""
        ...

    async def consume_state(
        self, candidates: Sequence[str], error: str | None = None
    ) -> ConsumedState | None:
        """Mark used the state whose hash is one of ``candidates``, atomically, recording the
        provider's ``error``; None when unknown, used already or expired. Of two concurrent
        calls for one state, one gets it."""
        ...


# -- Webhook deliveries -----------------------------------------------------------------------


class WebhookDeliveries(Protocol):
    """What became of each event sent to a client's webhook (``events``), kept
    ``events.DELIVERIES_KEPT_S`` for the operator (the console's deliveries page)."""

    async def queued(self, client_pk: int, event: Mapping[str, object], now: datetime) -> None:
        """A new event (``event["id"]``) is queued for delivery, or queued again."""
        ...

    async def attempted(
        self,
        event_id: str,
        status: DeliveryStatus,
        now: datetime,
        status_code: int | None = None,
        error: str | None = None,
    ) -> None:
        """One delivery attempt ended with ``status``; counts the attempt."""
        ...

    async def of_client(self, client_pk: int, limit: int) -> Sequence[WebhookDelivery]:
        """The client's latest ``limit`` events, newest first."""
        ...

    async def get(self, event_id: str) -> WebhookDelivery | None: ...

    async def purge(self, before: datetime) -> int:
        """Forget the events that occurred before ``before``; how many."""
        ...
