"""Request objects (JAR, RFC 9101): by value at /authorize and inside pushed requests."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey

from tests.api.oidc.conftest import (
    ADMIN,
    REDIRECT,
    RegisteredClient,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.api.oidc.test_client_assertions import ec_key, public_jwks
from tests.secrets_seen import SecretsSeen

ISSUER = "http://testserver"


async def jar_client(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen, **fields: Any
) -> RegisteredClient:
    response = await http.post(
        "/admin/clients",
        json={"name": "JAR", "redirect_uris": [REDIRECT], "scope": "openid email",
              "jwks": public_jwks(key), **fields},
        headers=ADMIN,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    data = response.json()
    secrets_seen.add(data["client_secret"])
    return RegisteredClient(data["client_id"], data["client_secret"])


def request_object(issued_by: str, key: ECKey, *, alg: str = "ES256", **changes: Any) -> str:
    _, challenge = pkce_pair()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issued_by, "aud": ISSUER, "exp": now + 300, "nbf": now, "iat": now,
        "jti": secrets.token_urlsafe(8), "client_id": issued_by, "response_type": "code",
        "redirect_uri": REDIRECT, "scope": "openid email", "state": "from-the-object",
        "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256",
        "max_age": 3600,
    }  # fmt: skip
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    if alg == "none":
        return jwt.encode(claims, "", algorithm="none")
    return jwt.encode(claims, key.as_pem(private=True), algorithm=alg, headers={"kid": key.kid})


@pytest.fixture
def key() -> ECKey:
    return ec_key()


async def test_a_signed_request_object_carries_the_request(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen, user: dict[str, Any]
) -> None:
    rp = await jar_client(http, key, secrets_seen)
    front = {"client_id": rp.client_id, "request": request_object(rp.client_id, key),
             "redirect_uri": REDIRECT, "state": "from-the-query"}  # fmt: skip
    query = await sign_in_and_consent(http, front, user["email"])
    # RFC 9101 §5: only the object's parameters are used.
    assert query["state"] == "from-the-object"
    assert "code" in query


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"aud": "https://other.example"}, "not issued for this recipient"),
        ({"exp": None}, "not issued for this recipient"),
        ({"exp": int(time.time()) + 7200}, "too far in the future"),
        ({"nbf": int(time.time()) - 7200}, "nbf is too old"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"iss": "someone-else"}, "not issued for this recipient"),
        ({"alg": "none"}, "not accepted"),
        ({"alg": "other key"}, "not accepted"),
        ({"request_uri": "https://x.example"}, "must not carry"),
    ],
)
async def test_a_bad_request_object_is_invalid_request_object(
    http: httpx.AsyncClient,
    key: ECKey,
    secrets_seen: SecretsSeen,
    changes: dict[str, Any],
    expected: str,
) -> None:
    rp = await jar_client(http, key, secrets_seen)
    changes = dict(changes)  # the parameter is shared by the sqlite and postgres runs
    alg = changes.pop("alg", "ES256")
    signer = ec_key(key.kid) if alg == "other key" else key
    token = request_object(
        rp.client_id, signer, alg="ES256" if alg == "other key" else alg, **changes
    )
    params = {"client_id": rp.client_id, "request": token, "redirect_uri": REDIRECT,
              "state": "s"}  # fmt: skip
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303, response.text
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request_object"
    assert expected in query["error_description"]
    assert query["state"] == "s"


async def test_a_request_object_jti_is_used_once(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen
) -> None:
    rp = await jar_client(http, key, secrets_seen)
    params = {"client_id": rp.client_id, "request": request_object(rp.client_id, key),
              "redirect_uri": REDIRECT}  # fmt: skip
    first = await http.get("/authorize", params=params)
    assert first.headers["location"].startswith("/interaction/")
    second = await http.get("/authorize", params=params)
    assert query_of(second.headers["location"])["error"] == "invalid_request_object"


async def test_garbage_or_huge_request_objects_never_fail_the_server(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen
) -> None:
    rp = await jar_client(http, key, secrets_seen)
    for request in ("x", "a.b.c", "e30.e30.", "x" * 20_000, request_object(rp.client_id, key)[:-5]):
        params = {"client_id": rp.client_id, "request": request, "redirect_uri": REDIRECT}
        response = await http.get("/authorize", params=params)
        assert response.status_code == 303, response.text
        assert query_of(response.headers["location"])["error"] in (
            "invalid_request_object", "invalid_request"
        )  # fmt: skip
    # A redirect URI in the query that is not the client's: an error page, nothing to trust.
    params = {"client_id": rp.client_id, "request": "x", "redirect_uri": "https://evil.example/"}
    response = await http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("location", "")


async def test_a_client_that_must_sign_cannot_send_plain_parameters(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen
) -> None:
    rp = await jar_client(http, key, secrets_seen, require_signed_request_object=True)
    _, challenge = pkce_pair()
    plain = {"client_id": rp.client_id, "response_type": "code", "redirect_uri": REDIRECT,
             "scope": "openid", "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    response = await http.get("/authorize", params=plain)
    assert query_of(response.headers["location"])["error"] == "invalid_request"
    pushed = await http.post("/par", data=plain, auth=rp.auth)
    assert pushed.status_code == 400
    # Signed, inside a pushed request (RFC 9126 §3): accepted.
    pushed = await http.post(
        "/par",
        data={"client_id": rp.client_id, "request": request_object(rp.client_id, key)},
        auth=rp.auth,
    )
    assert pushed.status_code == 201, pushed.text
    front = {"client_id": rp.client_id, "request_uri": pushed.json()["request_uri"]}
    response = await http.get("/authorize", params=front)
    assert response.headers["location"].startswith("/interaction/")


async def test_require_signed_request_object_needs_keys(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/clients",
        json={"name": "x", "redirect_uris": [REDIRECT], "require_signed_request_object": True},
        headers=ADMIN,
    )
    assert response.status_code in (400, 422)


async def test_discovery_advertises_request_objects(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["request_parameter_supported"] is True
    assert "ES256" in doc["request_object_signing_alg_values_supported"]
    assert "none" not in doc["request_object_signing_alg_values_supported"]
    assert doc["request_uri_parameter_supported"] is False
