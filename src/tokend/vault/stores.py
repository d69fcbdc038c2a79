"""What the refresher needs from storage; :class:`tokend.vault.sql.VaultStore` provides it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from tokend.vault.models import ConnectionStatus
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import ClientRecord, DueConnection, TokenRecord


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
        """The client's latest token that no newer one replaced."""
        ...


class ConnectionWrites(Protocol):
    """Each write applies only if the row is still at ``current.generation`` (else None)."""

    async def save_refreshed(self, current: TokenRecord, tokens: TokenSet) -> TokenRecord | None:
        """Store a refresh's result, keeping the old refresh token if none came."""
        ...

    async def record_failure(
        self, current: TokenRecord, error: str, next_attempt_at: datetime, *, exhausted: bool
    ) -> TokenRecord | None:
        """Count a transient failure; the stored tokens stay as they are."""
        ...

    async def mark(
        self, current: TokenRecord, status: ConnectionStatus, error: str | None
    ) -> TokenRecord | None:
        """Mark the connection broken or revoked; the tokens are never handed out again."""
        ...


class DueConnections(Protocol):
    async def claim_due(self, before: datetime, limit: int, lease_s: float) -> list[DueConnection]:
        """Lease up to ``limit`` connections due before ``before``; others skip them."""
        ...

    async def count_by_status(self) -> dict[str, int]: ...


class RefreshStore(ConnectionReads, ConnectionWrites, DueConnections, Protocol):
    """Everything the refresher reads and writes."""

    def pinned(self) -> AbstractAsyncContextManager[RefreshStore]:
        """This store on one connection held for the block, for many short statements in a
        row (a sweep); each statement still stands alone and is committed as it returns."""
        ...
