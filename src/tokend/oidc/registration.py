"""Creating clients and users: generated ids and secrets, hashed before they are stored.

Shared by ``tokend clients|users`` and the admin API (``registry.Registry``), so both make the
same rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from tokend.core.crypto import (
    FieldCipher,
    PasswordHasher,
    SecretHasher,
    random_id,
    random_secret,
)
from tokend.core.errors import NotFound, ValidationFailed
from tokend.oidc.records import AuthMethod, Client, ClientSource, User
from tokend.oidc.schemas import ClientCreate, UserCreate, UserUpdate
from tokend.oidc.stores import ClientRegistry, UserRegistry

CLIENT_SECRET_BYTES = 32


async def create_client(
    registry: ClientRegistry,
    hasher: SecretHasher,
    spec: ClientCreate,
    client_id: str | None = None,
    cipher: FieldCipher | None = None,
    source: ClientSource = ClientSource.ADMIN,
) -> tuple[Client, str | None]:
    """Store a new client; returns it and its secret (None for public clients), shown once.
    ``cipher`` keeps the secret itself for a client_secret_jwt client (``secret_enc``)."""
    secret = None if spec.public else random_secret(CLIENT_SECRET_BYTES)
    client = spec.to_client(
        client_id or random_id("c_"), hasher.hash(secret) if secret is not None else None, source
    )
    if secret is not None:
        client = dataclasses.replace(client, secret_enc=_secret_enc(client, secret, cipher))
    await registry.add(client)
    return client, secret


def _secret_enc(client: Client, secret: str, cipher: FieldCipher | None) -> str | None:
    """RFC 7523 §2.2 client_secret_jwt: the HMAC is checked with the secret itself, so only
    such a client's secret is kept, encrypted (bound to its client_id)."""
    if client.auth_method is not AuthMethod.CLIENT_SECRET_JWT:
        return None
    if cipher is None:
        raise ValidationFailed("client_secret_jwt cannot be set up here")
    return cipher.encrypt_text(secret, aad=client.client_id)


async def update_client(
    registry: ClientRegistry, client_id: str, changes: Mapping[str, object]
) -> Client:
    """Change the settings named in ``changes`` (``ClientCreate`` fields), checked as a whole;
    the secret stays. Raises NotFound, or pydantic's ValidationError."""
    client = await registry.get(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    spec = ClientCreate.model_validate({**ClientCreate.of(client).model_dump(), **changes})
    updated = dataclasses.replace(
        spec.to_client(client_id, client.secret_hash, client.source, client.issued_at),
        secret_enc=client.secret_enc,
    )
    await registry.replace(updated)
    return updated


async def rotate_client_secret(
    registry: ClientRegistry,
    hasher: SecretHasher,
    client_id: str,
    cipher: FieldCipher | None = None,
) -> str:
    """A new secret replaces the old one at once; returns it (shown once)."""
    client = await registry.get(client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    if client.is_public:
        raise ValidationFailed("a public client has no secret")
    secret = random_secret(CLIENT_SECRET_BYTES)
    await registry.replace(
        dataclasses.replace(
            client,
            secret_hash=hasher.hash(secret),
            secret_enc=_secret_enc(client, secret, cipher),
        )
    )
    return secret


async def create_user(
    users: UserRegistry, passwords: PasswordHasher, spec: UserCreate, user_id: str | None = None
) -> User:
    user = User(
        id=user_id or random_id("u_"),
        email=spec.email.strip(),
        email_verified=spec.email_verified,
        name=spec.name,
        given_name=spec.given_name,
        family_name=spec.family_name,
        picture=spec.picture,
        locale=spec.locale,
        address=spec.address.members() if spec.address is not None else (),
        phone_number=spec.phone_number,
        phone_number_verified=spec.phone_number_verified,
        roles=tuple(dict.fromkeys(spec.roles)),
        disabled=spec.disabled,
        password_hash=await passwords.hash(spec.password),
        groups=tuple(dict.fromkeys(spec.groups)),
        client_roles=_client_roles(spec.client_roles),
    )
    await users.add(user)
    return user


async def update_user(
    users: UserRegistry, passwords: PasswordHasher, user_id: str, changes: UserUpdate
) -> User:
    user = await users.by_id(user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    fields = changes.model_dump(exclude_unset=True, exclude={"password"})
    for listed in ("roles", "groups"):
        if fields.get(listed) is not None:
            fields[listed] = tuple(dict.fromkeys(fields[listed]))
    if fields.get("client_roles") is not None:
        fields["client_roles"] = _client_roles(fields["client_roles"])
    if "address" in fields:
        fields["address"] = changes.address.members() if changes.address is not None else ()
    fields = {k: v for k, v in fields.items() if v is not None or k in _NULLABLE}
    updated = dataclasses.replace(user, **fields)
    await users.replace(updated)
    if changes.password is not None:
        # Ends the user's sessions too; the caller revokes the grants (GrantRevoker).
        password_hash = await passwords.hash(changes.password)
        await users.set_password(user_id, password_hash)
        updated = dataclasses.replace(updated, password_hash=password_hash)
    return updated


def _client_roles(by_client: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Each client's roles once, in order; a client with none is left out."""
    return {client: tuple(dict.fromkeys(roles)) for client, roles in by_client.items() if roles}


_NULLABLE = frozenset(
    {"name", "given_name", "family_name", "picture", "locale", "address", "phone_number"}
)
