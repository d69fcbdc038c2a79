"""ES256 mode: tokens signed by tokend's keyring, verifiable from the JWKS without a secret."""

from __future__ import annotations

from pathlib import Path

import anyio
import jwt

from tests.api.gateway.conftest import OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import FakeKong
from tokend.store import migrate
from tokend.store.settings import DatabaseSettings


async def test_es256_tokens_verify_with_the_jwks_and_validate(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    other = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id)
    async with open_gateway(token_alg="ES256") as gw:
        response = await gw.client.get("/tokens", headers=headers)
        token = secrets_seen.add(response.json()["access_token"])
        jwks = (await gw.client.get("/.well-known/jwks.json")).json()
        valid = await gw.client.get(
            "/tokens/validate", headers=headers | {"Authorization": f"Bearer {token}"}
        )
        foreign = await gw.client.get(
            "/tokens/validate",
            headers=consumer_headers(other.consumer_id, "someone-else")
            | {"Authorization": f"Bearer {token}"},
        )
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["ES256"], audience="example-api", leeway=5
    )
    assert (claims["sub"], claims["key"]) == ("example-consumer", credential.key)
    assert valid.status_code == 200, valid.text
    assert (foreign.status_code, foreign.json()["code"]) == (400, "AUTH_011")


async def test_es256_without_an_es256_key_in_the_keyring_is_a_500_auth_003(
    open_gateway: OpenGateway, kong: FakeKong, tmp_path: Path
) -> None:
    # A database of its own: the shared one already holds ES256 keys made by other tests.
    database = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'rsa-only.db'}")
    await anyio.to_thread.run_sync(migrate.upgrade, database)
    credential = kong.add_consumer()
    rsa_only = {"database": database, "keys": {"access_token_alg": "RS256"}}
    async with open_gateway(token_alg="ES256", top=rsa_only) as gw:
        response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 500
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_003", "JWT Creation Failed")
    assert body["detail"] == "Failed to create JWT token due to an internal error"


async def test_an_expired_es256_token_is_a_401_auth_010(
    open_gateway: OpenGateway, kong: FakeKong, secrets_seen: SecretsSeen
) -> None:
    credential = kong.add_consumer()
    headers = consumer_headers(credential.consumer_id)
    async with open_gateway(token_alg="ES256") as gw:
        token = secrets_seen.add(
            (await gw.client.get("/tokens", headers=headers)).json()["access_token"]
        )
        gw.clock.advance(900)
        response = await gw.client.get(
            "/tokens/validate", headers=headers | {"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_010"
    assert response.json()["extensions"]["reason"] == "Token has expired"
