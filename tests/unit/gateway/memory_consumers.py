"""An in-memory ConsumerStore for unit tests; the contract suite holds it to the SQL store."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tokend.core.clock import Clock
from tokend.core.errors import Conflict
from tokend.gateway.records import ConsumerRecord, Credential


@dataclass(slots=True)
class _Row:
    record: ConsumerRecord
    credential: Credential


class MemoryConsumers:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._rows: dict[str, _Row] = {}

    async def credential_by_key_hash(self, api_key_hash: str) -> Credential | None:
        for row in self._rows.values():
            if row.record.api_key_hash == api_key_hash and not row.record.is_revoked:
                return row.credential
        return None

    async def create(
        self, username: str, api_key_hash: str, credential: Credential
    ) -> ConsumerRecord:
        if any(
            row.record.username == username or row.record.api_key_hash == api_key_hash
            for row in self._rows.values()
        ):
            raise Conflict(f"a consumer named {username!r} already exists")
        return self._add(username, api_key_hash, credential)

    async def set_api_key(self, username: str, api_key_hash: str, credential: Credential) -> bool:
        row = next((r for r in self._rows.values() if r.record.username == username), None)
        if row is None:
            self._add(username, api_key_hash, credential)
            return True
        if row.record.api_key_hash == api_key_hash and not row.record.is_revoked:
            return False
        row.record = replace(row.record, api_key_hash=api_key_hash, revoked_at=None)
        return True

    async def list_all(self) -> list[ConsumerRecord]:
        return sorted((row.record for row in self._rows.values()), key=lambda r: r.created_at)

    async def revoke(self, consumer_id: str) -> ConsumerRecord | None:
        row = self._rows.get(consumer_id)
        if row is None:
            return None
        if not row.record.is_revoked:
            row.record = replace(row.record, revoked_at=self._clock.now())
        return row.record

    def _add(self, username: str, api_key_hash: str, credential: Credential) -> ConsumerRecord:
        record = ConsumerRecord(
            consumer_id=credential.consumer_id,
            username=username,
            key=credential.key,
            api_key_hash=api_key_hash,
            created_at=self._clock.now(),
            revoked_at=None,
        )
        self._rows[credential.consumer_id] = _Row(record, replace(credential, username=username))
        return record
