"""Standalone consumers: create (API key shown once), list, revoke; declared consumers.

Nothing is logged here: the CLI prints JSON on stdout; the admin routes log the audit events.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from tokend.core.crypto import SecretHasher, random_secret
from tokend.core.errors import NotFound
from tokend.gateway.records import ConsumerRecord, Credential
from tokend.gateway.settings import StaticConsumer
from tokend.gateway.stores import ConsumerStore

API_KEY_PREFIX = "tkd_"


@dataclass(frozen=True, slots=True)
class NewConsumer:
    record: ConsumerRecord
    api_key: str = field(repr=False)


def new_credential() -> Credential:
    """A fresh JWT credential the way Kong provisions one: 32 hex key, 64 hex secret."""
    return Credential(
        consumer_id=str(uuid.uuid4()), key=secrets.token_hex(16), secret=secrets.token_hex(32)
    )


class Consumers:
    def __init__(
        self,
        store: ConsumerStore,
        hasher: SecretHasher,
        forget: Callable[[str], Awaitable[None]],
    ) -> None:
        self._store = store
        self._hasher = hasher
        #: Drops a cached credential by API-key hash, so a revoked key stops working at once.
        self._forget = forget

    async def create(self, username: str) -> NewConsumer:
        api_key = API_KEY_PREFIX + random_secret(32)
        record = await self._store.create(username, self._hasher.hash(api_key), new_credential())
        return NewConsumer(record, api_key)

    async def list_all(self) -> list[ConsumerRecord]:
        return await self._store.list_all()

    async def revoke(self, consumer_id: str) -> ConsumerRecord:
        record = await self._store.revoke(consumer_id)
        if record is None:
            raise NotFound(f"no consumer with id {consumer_id!r}")
        await self._forget(record.api_key_hash)
        return record

    async def declare(self, consumers: Sequence[StaticConsumer]) -> list[str]:
        """Create the declared consumers, or give them their declared API key; the usernames
        that changed."""
        changed: list[str] = []
        for consumer in consumers:
            key_hash = self._hasher.hash(consumer.api_key.get_secret_value())
            if await self._store.set_api_key(consumer.username, key_hash, new_credential()):
                changed.append(consumer.username)
        return changed
