"""The admin API's clients and users (``/admin/clients``, ``/admin/users``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from tokend.core.crypto import FieldCipher, PasswordHasher, SecretHasher
from tokend.core.errors import Forbidden, NotFound, ValidationFailed
from tokend.core.http import GuardedClient
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.backchannel_logout import BackchannelLogout
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.fapi import signing_refusal
from tokend.oidc.records import Client, User
from tokend.oidc.registration import (
    create_client,
    create_user,
    rotate_client_secret,
    update_user,
)
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.schemas import ClientCreate, UserCreate, UserUpdate
from tokend.oidc.stores import ClientRegistry, UserRegistry
from tokend.oidc.subjects import check_sector


@dataclass(frozen=True, slots=True)
class Registry:
    """The admin API's clients and users: the registration rules above, the hot paths' client
    cache kept current, and the grants revoked when a user's account changes."""

    clients: ClientRegistry
    cached: CachedClients
    users: UserRegistry
    hasher: SecretHasher = field(repr=False)
    passwords: PasswordHasher
    grants: GrantRevoker
    audit: Audit
    #: Keeps the secret of client_secret_jwt clients (``registration._secret_enc``).
    cipher: FieldCipher | None = field(default=None, repr=False)
    #: Fetches a pairwise client's sector_identifier_uri (``subjects.check_sector``).
    http: GuardedClient | None = None
    pairwise_salt_set: bool = False
    backchannel: BackchannelLogout | None = None
    #: The ID-token key's algorithm (``keys.id_token_alg``): a FAPI 2.0 client needs a FAPI one.
    id_token_alg: str = "RS256"  # noqa: S105  (an algorithm; keys.id_token_alg's default)

    async def all_clients(self) -> Sequence[Client]:
        return await self.clients.all()

    async def client(self, client_id: str) -> Client:
        """Raises NotFound."""
        client = await self.clients.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        return client

    async def add_client(self, spec: ClientCreate) -> tuple[Client, str | None]:
        """The new client and its secret (None for public clients), shown once."""
        self._check_signing(spec)
        await check_sector(spec.to_client("", None), self.http, self.pairwise_salt_set)
        return await create_client(self.clients, self.hasher, spec, cipher=self.cipher)

    def _check_signing(self, spec: ClientCreate) -> None:
        refusal = signing_refusal(self.id_token_alg) if spec.fapi2_profile else None
        if refusal is not None:
            raise ValidationFailed(refusal)

    async def replace_client(self, client_id: str, spec: ClientCreate) -> Client:
        """New settings, the same secret; raises NotFound, or Forbidden for a change between
        public and confidential."""
        current = await self.client(client_id)
        self._check_signing(spec)
        if current.is_public != spec.public:
            raise Forbidden("a client cannot change between public and confidential")
        client = dataclasses.replace(
            spec.to_client(client_id, current.secret_hash, current.source, current.issued_at),
            secret_enc=current.secret_enc,
        )
        await check_sector(client, self.http, self.pairwise_salt_set)
        await self.clients.replace(client)
        await self.cached.forget(client_id)
        return client

    async def remove_client(self, client_id: str) -> None:
        """Raises NotFound. The grants its users gave it are revoked, as RFC 7592 §2.3 asks of
        a deleted registration."""
        if not await self.clients.remove(client_id):
            raise NotFound(f"no client {client_id}")
        await self.cached.forget(client_id)
        revoked = await self.grants.revoke_client(client_id)
        self.audit.record(
            AuditEvent.GRANTS_REVOKED, client_id=client_id, reason="client_deleted", grants=revoked
        )

    async def rotate_secret(self, client_id: str) -> str:
        secret = await rotate_client_secret(self.clients, self.hasher, client_id, self.cipher)
        await self.cached.forget(client_id)
        return secret

    async def all_users(self) -> Sequence[User]:
        return await self.users.all()

    async def user(self, user_id: str) -> User:
        """Raises NotFound."""
        user = await self.users.by_id(user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return user

    async def add_user(self, spec: UserCreate) -> User:
        return await create_user(self.users, self.passwords, spec)

    async def update_user(self, user_id: str, changes: UserUpdate) -> User:
        """Raises NotFound. A new password, or disabling, revokes the user's grants."""
        user = await update_user(self.users, self.passwords, user_id, changes)
        # RFC 9700 §4.14.2: a security event revokes the user's refresh tokens (and here the
        # access tokens of the same grants): whoever held the old password keeps nothing.
        if changes.password is not None:
            await self._revoke_grants(user_id, "password_changed")
            await self.audit.account_event(AuditEvent.PASSWORD_CHANGED, user_id, "admin")
        elif changes.disabled:
            await self._revoke_grants(user_id, "user_disabled")
        return user

    async def remove_user(self, user_id: str) -> None:
        """Raises NotFound; the user's grants are revoked."""
        if not await self.users.remove(user_id):
            raise NotFound(f"no user {user_id}")
        await self._revoke_grants(user_id, "user_deleted")

    async def _revoke_grants(self, user_id: str, reason: str) -> None:
        revoked = await self.grants.revoke_user(user_id)
        if self.backchannel is not None:
            # Every session of the user ended: tell the clients (Back-Channel Logout).
            await self.backchannel.session_ended(user_id)
        self.audit.record(AuditEvent.GRANTS_REVOKED, user_id=user_id, reason=reason, grants=revoked)
