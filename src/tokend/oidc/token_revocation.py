"""Token revocation (RFC 7009): a client revokes a token it was issued."""

from __future__ import annotations

from dataclasses import dataclass

from tokend.core.crypto import SecretHasher
from tokend.core.revocations import Revocations
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.introspection import MAX_TOKEN_LENGTH
from tokend.oidc.records import Client
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.stores import RefreshStore
from tokend.oidc.tokens import AccessTokenReader, TokenInfo


@dataclass(frozen=True, slots=True)
class TokenRevocation:
    reader: AccessTokenReader
    refresh: RefreshStore
    hasher: SecretHasher
    grants: GrantRevoker
    revocations: Revocations
    audit: Audit

    async def revoke(self, client: Client, token: str) -> None:
        """Revoke ``token`` if ``client`` was issued it; anything else changes nothing (RFC 7009
        §2.2: the answer is the same). Raises ``TemporarilyUnavailable`` when a revocation
        could not be recorded."""
        if len(token) > MAX_TOKEN_LENGTH:
            return
        if token.count(".") == 2:
            await self._revoke_jwt(client, token)
            return
        refresh = await self.refresh.find(self.hasher.hash(token))
        if refresh is not None:
            # RFC 7009 §2.1: only the client the token was issued to may revoke it.
            if refresh.client_id == client.client_id:
                # RFC 7009 §2.1: revoking a refresh token revokes its whole grant.
                await self.grants.revoke(refresh.grant_id)
                self.audit.record(
                    AuditEvent.TOKEN_REVOKED,
                    client_id=client.client_id,
                    user_id=refresh.user_id,
                    token_type="refresh_token",  # noqa: S106  (a token type)
                )
            return
        info = await self.reader.read(token)
        if info is not None and info.client_id == client.client_id:
            await self.reader.revoke_opaque(token)
            # Its jti denied too: another replica's memory tier may hold the token's record
            # for up to cache.memory_ttl_s, but every check reads the deny-list's revoked marks
            # from Redis, so the token is refused everywhere at once, as a revoked JWT is.
            await self._deny(info)

    async def _revoke_jwt(self, client: Client, token: str) -> None:
        info = await self.reader.read(token)
        if info is not None and info.client_id == client.client_id:
            await self._deny(info)

    async def _deny(self, info: TokenInfo) -> None:
        if info.jti is not None:
            await self.revocations.revoke_jti(info.jti, info.expires_at)
        self._audit_access(info)

    def _audit_access(self, info: TokenInfo) -> None:
        self.audit.record(
            AuditEvent.TOKEN_REVOKED,
            client_id=info.client_id,
            user_id=info.user_id,
            token_type="access_token",  # noqa: S106  (a token type)
        )
