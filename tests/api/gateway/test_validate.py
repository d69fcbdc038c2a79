"""``GET /tokens/validate``: the seed body; expired, tampered, foreign, malformed tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(secret: str, head: str, body: str) -> str:
    """Segments exactly as given, with the HMAC Kong's jwt plugin would compute over them."""
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


_SEED_HEADER = _b64(b'{"alg":"HS256","typ":"JWT"}')


def _with_extra_characters(token: str, credential: KongCredential) -> str:
    head, body, signature = token.split(".")
    # Four of them, so the length still decodes: a lenient decoder skips them all.
    return f"{head}.{body}.{signature[:20]}!*!*{signature[20:]}"


def _in_the_standard_alphabet(token: str, credential: KongCredential) -> str:
    # A signature without "-" or "_" gets one: the same claims plus a padding claim, re-signed.
    head, body, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    for n in range(1000):
        candidate = _signed(credential.secret, head, _b64(json.dumps(claims | {"n": n}).encode()))
        head, body, signature = candidate.split(".")
        if "-" in signature or "_" in signature:
            return f"{head}.{body}.{signature.translate(str.maketrans('-_', '+/'))}"
    raise AssertionError("no signature with '-' or '_' in 1000 tries")


def _respelled(token: str, credential: KongCredential) -> str:
    # 32 bytes in 43 characters: the last one carries 2 spare bits; setting one is the same MAC.
    head, body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return f"{head}.{body}.{signature[:-1]}{alphabet[alphabet.index(signature[-1]) ^ 1]}"


def _payload_with_extra_characters(token: str, credential: KongCredential) -> str:
    head, body, _ = token.split(".")
    return _signed(credential.secret, head, f"{body[:10]}*!*!{body[10:]}")


def _duplicate_exp(token: str, credential: KongCredential) -> str:
    # An expired exp first, a valid one last: a lenient parser takes the last one.
    _, body, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    text = json.dumps(claims).replace('"exp": ', f'"exp": {claims["iat"] - 60}, "exp": ', 1)
    return _signed(credential.secret, _SEED_HEADER, _b64(text.encode()))


def _duplicate_alg(token: str, credential: KongCredential) -> str:
    _, body, _ = token.split(".")
    return _signed(credential.secret, _b64(b'{"alg":"none","alg":"HS256","typ":"JWT"}'), body)


@pytest.mark.parametrize(
    "respell",
    [
        pytest.param(_with_extra_characters, id="signature-with-non-alphabet-characters"),
        pytest.param(_in_the_standard_alphabet, id="signature-in-the-standard-base64-alphabet"),
        pytest.param(_respelled, id="signature-with-a-spare-bit-set"),
        pytest.param(_payload_with_extra_characters, id="payload-with-non-alphabet-characters"),
        pytest.param(_duplicate_exp, id="duplicate-exp-claim"),
        pytest.param(_duplicate_alg, id="duplicate-alg-header"),
    ],
)
async def test_a_second_spelling_or_an_ambiguous_token_is_a_400_auth_011(
    gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen, respell: object
) -> None:
    """Tokens the gateway's own lenient parser accepted (it skipped characters outside the
    alphabet and let the last of duplicate members win): core.jwt refuses them as malformed."""
    token = await _token(gw, credential, secrets_seen)
    assert callable(respell)
    response = await gw.client.get(
        "/tokens/validate",
        headers=consumer_headers(credential.consumer_id)
        | {"Authorization": f"Bearer {secrets_seen.add(respell(token, credential))}"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["extensions"]) == ("AUTH_011", {"reason": "Token is malformed"})


async def test_a_token_another_client_signed_with_the_consumer_secret_is_valid(
    gw: Gateway, credential: KongCredential, secrets_seen: SecretsSeen
) -> None:
    """Clients that mint their own tokens with the Kong secret (PyJWT, with or without a kid)
    keep validating: the secret, not a kid, says which key applies."""
    now = int(gw.clock.now().timestamp())
    claims = {"sub": "example-consumer", "jti": "j-1", "iat": now, "exp": now + 60}
    for headers in (None, {"kid": "some-client-key-id"}):
        token = secrets_seen.add(
            jwt.encode(claims, credential.secret, algorithm="HS256", headers=headers)
        )
        response = await gw.client.get(
            "/tokens/validate",
            headers=consumer_headers(credential.consumer_id) | {"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert (response.json()["tokenId"], response.json()["expiresIn"]) == ("j-1", 60)


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
