"""The provider's stores for the contract suites: in memory, on SQLite and on PostgreSQL.

The contracts get a database of their own (another SQLite file, another PostgreSQL schema) so
that their test ids read ``[memory]``, ``[sqlite]``, ``[postgres]``, one run of each; like the
run's shared database, it keeps the rows of earlier tests, which the suites never count on:
every test makes its own ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, RUN_ID, TEST_ARGON2_ENV, _drop_schema, _engine_params
from tests.unit.oidc.memory_stores import (
    MemoryBackchannelRequests,
    MemoryClients,
    MemoryCodes,
    MemoryConsents,
    MemoryDatabase,
    MemoryEmailLinks,
    MemoryGrantClaims,
    MemoryInteractions,
    MemoryOpaqueTokens,
    MemoryRefreshTokens,
    MemorySessions,
    MemoryUsers,
)
from tokend.core.clock import FrozenClock
from tokend.core.crypto import random_id
from tokend.oidc.records import (
    AuthMethod,
    AuthorizationCode,
    Client,
    OpaqueAccessToken,
    RefreshToken,
    TokenFormat,
    User,
)
from tokend.oidc.sql import (
    SqlBackchannelRequests,
    SqlClients,
    SqlCodes,
    SqlConsents,
    SqlEmailLinks,
    SqlGrantClaims,
    SqlInteractions,
    SqlOpaqueTokens,
    SqlRefreshTokens,
    SqlSessions,
    SqlUsers,
)
from tokend.oidc.stores import (
    BackchannelRequestStore,
    ClientRegistry,
    CodeStore,
    ConsentStore,
    EmailLinkStore,
    GrantClaimsStore,
    InteractionStore,
    OpaqueTokenStore,
    RefreshStore,
    SessionStore,
    UserPhones,
    UserRegistry,
)
from tokend.store import migrate
from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings

#: The time every contract test runs at (the stores take ``now`` as an argument).
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Stores:
    """One backend's stores, on one database."""

    clients: ClientRegistry
    users: UserRegistry
    codes: CodeStore
    refresh: RefreshStore
    opaque: OpaqueTokenStore
    consents: ConsentStore
    sessions: SessionStore
    interactions: InteractionStore
    email_links: EmailLinkStore
    backchannel: BackchannelRequestStore
    #: The user store again, as CIBA's ``tel:`` hints look users up.
    phones: UserPhones
    grant_claims: GrantClaimsStore


@pytest.fixture
def env(database_settings: DatabaseSettings) -> dict[str, str]:
    """The environment of a ``tokend`` command run in-process on the test's database (the CLI
    tests; ``test_cli_upstreams`` has its own)."""
    values = {"TOKEND_DATABASE__URL": database_settings.url}
    # Users are hashed with the test costs (the production ones: a quarter second each).
    values |= TEST_ARGON2_ENV
    if database_settings.schema_name:
        values["TOKEND_DATABASE__SCHEMA_NAME"] = database_settings.schema_name
    return values


@pytest.fixture(scope="session", params=[pytest.param("memory", id="memory"), *_engine_params()])
def store_database(
    request: pytest.FixtureRequest, tmp_var: Path
) -> Iterator[DatabaseSettings | None]:
    """None for the in-memory stores; else a migrated database of the contract suites."""
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_var / 'oidc-stores.db'}")
        migrate.upgrade(settings)
        yield settings
        return
    assert POSTGRES_URL is not None
    schema = f"test_{RUN_ID}_oidc_stores"
    settings = DatabaseSettings(url=POSTGRES_URL, schema_name=schema, pool_size=5)
    migrate.upgrade(settings)
    yield settings
    asyncio.run(_drop_schema(POSTGRES_URL, schema))


@pytest.fixture
async def stores(store_database: DatabaseSettings | None) -> AsyncIterator[Stores]:
    if store_database is None:
        db = MemoryDatabase()
        memory_users = MemoryUsers(db)
        yield Stores(
            clients=MemoryClients(db),
            users=memory_users,
            codes=MemoryCodes(db),
            refresh=MemoryRefreshTokens(db),
            opaque=MemoryOpaqueTokens(db),
            consents=MemoryConsents(db),
            sessions=MemorySessions(db),
            interactions=MemoryInteractions(db),
            email_links=MemoryEmailLinks(db),
            backchannel=MemoryBackchannelRequests(db),
            phones=memory_users,
            grant_claims=MemoryGrantClaims(db),
        )
        return
    database = open_database(store_database)
    clock = FrozenClock(NOW)
    sql_users = SqlUsers(database, clock)
    yield Stores(
        clients=SqlClients(database, clock),
        users=sql_users,
        codes=SqlCodes(database),
        refresh=SqlRefreshTokens(database),
        opaque=SqlOpaqueTokens(database),
        consents=SqlConsents(database),
        sessions=SqlSessions(database),
        interactions=SqlInteractions(database),
        email_links=SqlEmailLinks(database),
        backchannel=SqlBackchannelRequests(database),
        phones=sql_users,
        grant_claims=SqlGrantClaims(database),
    )
    await database.close()


def a_client() -> Client:
    """A confidential client with every field set, its id unique in the run."""
    return Client(
        client_id=random_id("c_"),
        name="Contract RP",
        is_public=False,
        redirect_uris=("https://rp.example/cb", "https://rp.example/other"),
        post_logout_redirect_uris=("https://rp.example/bye",),
        grant_types=frozenset({"authorization_code", "refresh_token"}),
        response_types=frozenset({"code"}),
        scopes=frozenset({"openid", "profile", "offline_access"}),
        audiences=("https://api.example", "https://other.example"),
        auth_method=AuthMethod.CLIENT_SECRET_POST,
        token_format=TokenFormat.OPAQUE,
        require_pkce=True,
        skip_consent=False,
        access_token_ttl_s=300,
        refresh_token_ttl_s=86_400,
        id_token_ttl_s=600,
        refresh_grace_s=5,
        vault_clients=(3, 7),
        secret_hash="h1.p.secret-hash",
        backchannel_token_delivery_mode="ping",
        backchannel_client_notification_endpoint="https://rp.example/ciba",
    )


def a_user() -> User:
    """A user with every field set, its id and email unique in the run."""
    return User(
        id=random_id("u_"),
        email=f"Ada.{random_id()}@Example.org",
        email_verified=False,
        name="Ada Lovelace",
        given_name="Ada",
        family_name="Lovelace",
        picture="https://pictures.example/ada.png",
        locale="en-GB",
        roles=("admin", "author"),
        password_hash="argon2-hash",
    )


def a_code(user_id: str = "u1") -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=random_id("h"),
        grant_id=random_id("g_"),
        client_id="c1",
        user_id=user_id,
        redirect_uri="https://rp.example/cb",
        scopes=frozenset({"openid"}),
        nonce="n",
        code_challenge=None,
        code_challenge_method=None,
        auth_time=NOW,
        acr=None,
        expires_at=NOW + timedelta(seconds=60),
    )


def a_refresh(grant_id: str, user_id: str = "u1") -> RefreshToken:
    return RefreshToken(
        id=random_id("rt_"),
        grant_id=grant_id,
        client_id="c1",
        user_id=user_id,
        scopes=frozenset({"openid", "offline_access"}),
        auth_time=NOW,
        acr=None,
        expires_at=NOW + timedelta(days=1),
    )


def an_opaque_token(grant_id: str | None, user_id: str | None = "u1") -> OpaqueAccessToken:
    return OpaqueAccessToken(
        token_hash=random_id("h"),
        jti=random_id("j_"),
        grant_id=grant_id,
        client_id="c1",
        user_id=user_id,
        scopes=frozenset({"openid", "api:read"}),
        audience=("https://api.example", "c1"),
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )
