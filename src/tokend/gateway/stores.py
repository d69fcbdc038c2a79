"""The storage interface standalone consumers need (SQL implementation: ``sql.py``)."""

from __future__ import annotations

from typing import Protocol

from tokend.gateway.records import ConsumerRecord, Credential


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
        """Create ``username`` or give it this API key (declared consumers), unrevoking it;
        True if anything changed, False when it already had this key and was not revoked."""
        ...

    async def list_all(self) -> list[ConsumerRecord]:
        """Every consumer, revoked ones included, oldest first."""
        ...

    async def revoke(self, consumer_id: str) -> ConsumerRecord | None:
        """Mark the consumer revoked (once: a second call keeps the first time); None when
        there is no such consumer."""
        ...
