"""Upstream identity providers added through the admin API, in ``oidc_upstreams``.

The client secret is sealed with the FieldCipher (AES-GCM), its AAD naming the upstream, so a
ciphertext copied to another row does not decrypt; it is opened only when a row becomes a
record. Removing an upstream removes its links in the same transaction (``remove``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from tokend.core.crypto import FieldCipher
from tokend.core.errors import Conflict
from tokend.oidc.models import OidcUpstreamLinkRow, OidcUpstreamRow
from tokend.oidc.records import OfferedUpstream, StoredUpstream
from tokend.oidc.settings import UpstreamSettings
from tokend.oidc.sql._rows import rowcount
from tokend.store.engine import Database

_SECRET: Final = {"client_secret"}


def secret_aad(upstream_id: str) -> str:
    return f"oidc-upstream:{upstream_id}:client_secret"


@dataclass(frozen=True, slots=True)
class SqlUpstreams:
    db: Database
    cipher: FieldCipher = field(repr=False)

    def _record(self, row: OidcUpstreamRow) -> StoredUpstream:
        secret = self.cipher.decrypt_text(row.client_secret_enc, aad=secret_aad(row.id))
        settings = UpstreamSettings.model_validate({**row.spec, "client_secret": secret})
        return StoredUpstream(settings, row.created_at, row.updated_at)

    def _seal(self, upstream: UpstreamSettings) -> str:
        secret = upstream.client_secret.get_secret_value()
        return self.cipher.encrypt_text(secret, aad=secret_aad(upstream.id))

    async def all(self) -> Sequence[StoredUpstream]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                select(OidcUpstreamRow).order_by(OidcUpstreamRow.created_at, OidcUpstreamRow.id)
            )
            return [self._record(row) for row in rows]

    async def offered(self) -> Sequence[OfferedUpstream]:
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(OidcUpstreamRow.id, OidcUpstreamRow.spec).order_by(
                    OidcUpstreamRow.created_at, OidcUpstreamRow.id
                )
            )
            return [OfferedUpstream(uid, str(spec["name"])) for uid, spec in rows]

    async def count(self) -> int:
        async with self.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(OidcUpstreamRow)) or 0)

    async def get(self, upstream_id: str) -> StoredUpstream | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcUpstreamRow, upstream_id)
            return self._record(row) if row is not None else None

    async def add(self, upstream: UpstreamSettings, now: datetime) -> StoredUpstream:
        row = OidcUpstreamRow(
            id=upstream.id,
            spec=upstream.model_dump(mode="json", exclude=_SECRET),
            client_secret_enc=self._seal(upstream),
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"an upstream with the id {upstream.id} exists") from None
        return StoredUpstream(upstream, now, now)

    async def replace(self, upstream: UpstreamSettings, now: datetime) -> StoredUpstream | None:
        async with self.db.sessions.begin() as session:
            row = await session.get(OidcUpstreamRow, upstream.id, with_for_update=True)
            if row is None:
                return None
            row.spec = upstream.model_dump(mode="json", exclude=_SECRET)
            row.client_secret_enc = self._seal(upstream)
            row.updated_at = now
            return StoredUpstream(upstream, row.created_at, now)

    async def remove(self, upstream_id: str) -> int | None:
        async with self.db.sessions.begin() as session:
            row = await session.get(OidcUpstreamRow, upstream_id, with_for_update=True)
            if row is None:
                return None
            links = await session.execute(
                delete(OidcUpstreamLinkRow).where(OidcUpstreamLinkRow.upstream_id == upstream_id)
            )
            await session.delete(row)
            return rowcount(links)
