"""The storage interface standalone consumers need (SQL implementation: ``sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tokend.gateway.consumer import Credential


@dataclass(frozen=True, slots=True)
class ConsumerRecord:
    consumer_id: str
    username: str
    key: str
    api_key_hash: str = field(repr=False)
    created_at: datetime
    revoked_at: datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ConsumerStore(Protocol):
    async def credential_by_key_hash(self, api_key_hash: str) -> Credential | None:
        """The credential of the unrevoked consumer whose API key has this hash."""
        ...

    async def create(
        self, username: str, api_key_hash: str, credential: Credential
    ) -> ConsumerRecord:
        """Store a new consumer; Conflict when the username or key hash is taken."""
        ...

    async def set_api_key(self, username: str, api_key_hash: str, credential: Credential) -> bool:
        """Create ``username`` or give it this API key (declared consumers); True if changed."""
        ...

    async def list_all(self) -> list[ConsumerRecord]: ...

    async def revoke(self, consumer_id: str) -> ConsumerRecord | None:
        """Mark the consumer revoked; None when there is no such consumer."""
        ...
