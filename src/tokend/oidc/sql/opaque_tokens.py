"""Opaque access tokens in ``oidc_access_tokens``, by the hash of their value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from tokend.oidc.models import OidcAccessTokenRow
from tokend.oidc.records import OpaqueAccessToken
from tokend.oidc.sql._rows import scope_text, scopes_of
from tokend.store.engine import Database


@dataclass(frozen=True, slots=True)
class SqlOpaqueTokens:
    db: Database

    async def add(self, token: OpaqueAccessToken) -> None:
        async with self.db.sessions.begin() as session:
            session.add(
                OidcAccessTokenRow(
                    token_hash=token.token_hash,
                    jti=token.jti,
                    grant_id=token.grant_id,
                    client_id=token.client_id,
                    user_id=token.user_id,
                    scope=scope_text(token.scopes),
                    audience=list(token.audience),
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                    revoked_at=token.revoked_at,
                    dpop_jkt=token.dpop_jkt,
                )
            )

    async def find(self, token_hashes: Sequence[str]) -> OpaqueAccessToken | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                select(OidcAccessTokenRow).where(OidcAccessTokenRow.token_hash.in_(token_hashes))
            )
        if row is None:
            return None
        return OpaqueAccessToken(
            token_hash=row.token_hash,
            jti=row.jti,
            grant_id=row.grant_id,
            client_id=row.client_id,
            user_id=row.user_id,
            scopes=scopes_of(row.scope),
            audience=tuple(row.audience),
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            dpop_jkt=row.dpop_jkt,
        )

    async def revoke(self, token_hashes: Sequence[str], now: datetime) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(
                update(OidcAccessTokenRow)
                .where(OidcAccessTokenRow.token_hash.in_(token_hashes))
                .values(revoked_at=now)
            )
