"""An in-memory ``RevocationStore`` (``tokend.core.revocations``), held to the same contract as
the SQL store by ``test_revocation_store_contract.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tokend.core.revocations import Revoked


@dataclass(frozen=True, slots=True)
class MemoryRevocations:
    rows: dict[Revoked, datetime] = field(default_factory=dict)

    async def add(self, entry: Revoked, expires_at: datetime) -> None:
        self.rows[entry] = max(expires_at, self.rows.get(entry, expires_at))

    async def revoked(self, entries: Sequence[Revoked], now: datetime) -> dict[Revoked, datetime]:
        return {e: self.rows[e] for e in entries if e in self.rows and self.rows[e] > now}

    async def purge(self, now: datetime) -> int:
        expired = [e for e, until in self.rows.items() if until <= now]
        for entry in expired:
            del self.rows[entry]
        return len(expired)
