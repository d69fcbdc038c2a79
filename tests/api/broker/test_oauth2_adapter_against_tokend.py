"""The broker's ``oauth2`` adapter against tokend's own OpenID provider over real HTTP (issue 5):
an operator that runs tokend as its OAuth server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import jwt
import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tests.upstreams import loopback_http
from tokend.app import create_app
from tokend.broker.adapters import oauth2
from tokend.broker.directory import Secret, TelcoEntry
from tokend.broker.errors import UpstreamRejected
from tokend.broker.upstream import UpstreamCall
from tokend.config import Settings
from tokend.core.clock import SystemClock
from tokend.core.crypto import SecretHasher
from tokend.core.http import GuardedClient
from tokend.oidc.registration import create_client
from tokend.oidc.schemas import ClientCreate
from tokend.oidc.sql import SqlClients
from tokend.store.engine import open_database


@pytest.fixture
def provider(settings: Settings) -> Iterator[tuple[Settings, str]]:
    """tokend serving only its OpenID provider, at the root."""
    alone = settings.model_copy(update={"modules": ["oidc"]})
    with serving(create_app(alone)) as base_url:
        yield alone, base_url


async def register(settings: Settings, auth_method: str) -> tuple[str, str]:
    database = open_database(settings.database)
    try:
        spec = ClientCreate(
            name=f"broker via {auth_method}",
            grant_types=["client_credentials"],
            scope="telco:token",
            token_endpoint_auth_method=auth_method,
        )
        hasher = SecretHasher.from_secrets(settings.effective_secret_key(), [])
        client, secret = await create_client(SqlClients(database, SystemClock()), hasher, spec)
    finally:
        await database.close()
    assert secret is not None
    return client.client_id, secret


def entry(base_url: str, client_id: str, secret: str, auth_method: str) -> TelcoEntry:
    return TelcoEntry(
        prefix="97205",
        operator_id="tokend-op",
        base_url=base_url,
        token_url=f"{base_url}/token",
        client_id=client_id,
        client_secret=Secret(secret, secret),
        adapter="oauth2",
        auth_method=auth_method,  # type: ignore[arg-type]  # a literal
        grant_type="client_credentials",
        scopes=("telco:token",),
    )


def call(telco: TelcoEntry, http: GuardedClient) -> UpstreamCall:
    return UpstreamCall(
        telco, "972", "0527464600", "unused", http, httpx.Timeout(10), datetime.now(UTC)
    )


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
async def test_the_oauth2_adapter_gets_a_token_from_tokend_itself(
    provider: tuple[Settings, str], auth_method: str, secrets_seen: SecretsSeen
) -> None:
    settings, base_url = provider
    client_id, secret = await register(settings, auth_method)
    secrets_seen.add(secret)
    async with loopback_http() as http:
        token = await oauth2.fetch_token(
            call(entry(base_url, client_id, secret, auth_method), http)
        )
        jwks = (await http.get(f"{base_url}/.well-known/jwks.json")).json()
    secrets_seen.add(token.access_token)
    header = jwt.get_unverified_header(token.access_token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        token.access_token,
        jwt.PyJWK(key).key,
        algorithms=[header["alg"]],
        options={"verify_aud": False},
        issuer=settings.issuer,
    )
    assert claims["client_id"] == client_id
    assert "telco:token" in claims["scope"].split()
    assert token.expires_at > token.issued_at


async def test_tokend_refusing_the_client_is_a_rejection(
    provider: tuple[Settings, str],
) -> None:
    settings, base_url = provider
    client_id, _ = await register(settings, "client_secret_basic")
    wrong = entry(base_url, client_id, "not-the-secret", "client_secret_basic")
    async with loopback_http() as http:
        with pytest.raises(UpstreamRejected) as caught:
            await oauth2.fetch_token(call(wrong, http))
    assert "tokend-op" in (caught.value.internal or "")
    assert caught.value.seed is not None
    assert "not-the-secret" not in caught.value.seed.detail
