"""The connection the vault scenarios read, stored before the bench server starts.

Production refuses the vault's demo provider (it approves every authorization request), so
the production-like bench server cannot connect a client through it: client 1 of the migrated,
empty bench database is registered and given tokens straight through the vault's own stores,
encrypted with the server's key, good for a week and without a refresh token (so nothing ever
calls the provider).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import anyio

from tokend.core.clock import SystemClock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import NewClient
from tokend.vault.sql import SqlClients, SqlConnections

#: The path of ``vault_validate_cached`` names this client.
CLIENT_PK = 1
TOKEN_TTL_S = 7 * 24 * 3600


def seed_vault_connection(env: Mapping[str, str]) -> None:
    """Connect client 1 of the database ``env`` names, under ``env``'s secret key."""
    anyio.run(_seed, dict(env))


def database_of(env: Mapping[str, str]) -> DatabaseSettings:
    """The database ``env`` configures a server with (its URL and PostgreSQL schema)."""
    return DatabaseSettings(
        url=env["TOKEND_DATABASE__URL"], schema_name=env.get("TOKEND_DATABASE__SCHEMA_NAME")
    )


async def _seed(env: dict[str, str]) -> None:
    pk = await connect_client(
        database_of(env), env["TOKEND_SECRET_KEY"], env["TOKEND_ISSUER"], "bench-vault-app"
    )
    if pk != CLIENT_PK:
        raise RuntimeError(f"the bench database was not empty: the vault client is {pk}")


async def connect_client(
    settings: DatabaseSettings, secret_key: str, issuer: str, client_id: str
) -> int:
    """Register vault client ``client_id`` in the database of ``settings`` and store it a
    connection (an access token good for a week, no refresh token) encrypted under
    ``secret_key``, straight through the vault's stores; the client's id."""
    database = open_database(settings)
    cipher, clock = FieldCipher.from_secrets(secret_key), SystemClock()
    try:
        client, _ = await SqlClients(database, cipher, clock).register(
            NewClient(
                client_id=client_id,
                client_secret=secrets.token_urlsafe(24),
                redirect_uri=f"{issuer}/vault/auth/callback",
                provider="google",
            ),
            None,
        )
        tokens = TokenSet(
            "bench-at-" + secrets.token_urlsafe(24), None, "Bearer", None, TOKEN_TTL_S
        )
        await SqlConnections(database, cipher, clock).store_connection(client.id, tokens)
    finally:
        await database.close()
    return client.id
