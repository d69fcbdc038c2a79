"""``GET /tokens/validate``: the seed body; expired, tampered, foreign, malformed tokens."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator

import jwt
import pytest

from tests.api.gateway.conftest import Gateway, OpenGateway, consumer_headers
from tests.secrets_seen import SecretsSeen
from tests.unit.gateway.fake_kong import FakeKong, KongCredential

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def gw(open_gateway: OpenGateway) -> AsyncIterator[Gateway]:
    async with open_gateway() as gateway:
        yield gateway


@pytest.fixture
def credential(kong: FakeKong, secrets_seen: SecretsSeen) -> KongCredential:
    created = kong.add_consumer()
    secrets_seen.add(created.secret)
    return created


async def _token(gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen) -> str:
    response = await gw.client.get("/tokens", headers=consumer_headers(credential.consumer_id))
    assert response.status_code == 200, response.text
    return secrets_seen.add(response.json()["access_token"])


async def test_a_fresh_token_is_valid_with_the_seed_body(
    gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen
) -> None:
    token = await _token(gw, credential, secrets_seen)
    gw.clock.advance(100)
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id) | {"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert body == {
        "valid": True,
        "tokenId": claims["jti"],
        "subject": "example-consumer",
        "issuer": "https://api.example.com",
        "audience": "example-api",
        "issuedAt": body["issuedAt"],
        "expiresAt": body["expiresAt"],
        "expiresIn": 800,
    }
    assert ISO_MILLIS.match(body["issuedAt"])
    assert ISO_MILLIS.match(body["expiresAt"])


async def test_an_expired_token_is_a_401_auth_010(
    gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen
) -> None:
    token = await _token(gw, credential, secrets_seen)
    gw.clock.advance(900)
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id) | {"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_010", "Token Expired")
    assert ISO_MILLIS.match(body["extensions"]["expiredAt"])
    assert body["instance"] == "/tokens/validate"


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(_tamper, id="tampered-payload"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".AAAA", id="wrong-signature"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="two-parts"),
        pytest.param(lambda t: "not-a-jwt", id="garbage"),
        pytest.param(lambda t: "a.b.c", id="bad-json"),
    ],
)
async def test_a_tampered_or_malformed_token_is_a_400_auth_011(
    gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen, mutate: object
) -> None:
    token = await _token(gw, credential, secrets_seen)
    assert callable(mutate)
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id)
        | {"Authorization": f"Bearer {mutate(token)}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "AUTH_011"
    assert response.json()["extensions"]["reason"]


async def test_a_token_of_another_consumer_is_a_400_auth_011(
    gw: Gateway, kong: FakeKong, credential: KongCredential, secrets_seen: SecretsSeen
) -> None:
    other = kong.add_consumer()
    secrets_seen.add(other.secret)
    foreign = await _token(gw, other, secrets_seen)
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id) | {"Authorization": f"Bearer {foreign}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "AUTH_011"


async def test_a_token_not_yet_valid_is_a_400_auth_011(
    gw: Gateway, credential: KongCredential
) -> None:
    now = int(gw.clock.now().timestamp())
    early = jwt.encode(
        {"sub": "example-consumer", "iat": now, "nbf": now + 600, "exp": now + 900},
        credential.secret,
        algorithm="HS256",
    )
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id) | {"Authorization": f"Bearer {early}"},
    )
    assert response.status_code == 400
    assert response.json()["extensions"] == {"reason": "Token is not yet valid"}


@pytest.mark.parametrize(
    "authorization", [None, "Basic dXNlcjpwYXNz", "bearer abc", "Bearer", "Bearer   "]
)
async def test_no_bearer_token_is_a_400_auth_012(
    gw: Gateway, credential: KongCredential, authorization: str | None
) -> None:
    headers = consumer_headers(credential.consumer_id)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await gw.client.get("/tokens/validate", headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["title"]) == ("AUTH_012", "Missing Authorization")


async def test_validate_checks_the_bearer_before_the_consumer_headers(gw: Gateway) -> None:
    response = await gw.client.get("/tokens/validate")
    assert response.json()["code"] == "AUTH_012"
    response = await gw.client.get("/tokens/validate", headers={"Authorization": "Bearer x.y.z"})
    assert response.json()["code"] == "AUTH_001"


async def test_validate_for_an_unknown_consumer_is_a_401_auth_002(gw: Gateway) -> None:
    token = jwt.encode({"exp": int(time.time()) + 60}, "k" * 32, algorithm="HS256")
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers("nobody") | {"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_002"
