"""Client authentication with keys (RFC 7523 §2.2, OIDC Core §9): private_key_jwt with a
registered ``jwks`` or a fetched ``jwks_uri``, and client_secret_jwt, at the token,
introspection and revocation endpoints."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.api.oidc.conftest import ADMIN, ADMIN_TOKEN, replica
from tests.api.oidc.test_with_redis import forget_everything_in_redis
from tests.conftest import TEST_ARGON2, shared_redis
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.config import Settings
from tokend.core.clock import FrozenClock

ISSUER = "http://testserver"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def ec_key(kid: str | None = None) -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"kid": kid or secrets.token_hex(4)})
    return key


def public_jwks(*keys: ECKey | RSAKey) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) | {"alg": "ES256"} for k in keys]}


def assertion(
    client_id: str,
    key: ECKey,
    *,
    aud: str = ISSUER,
    lifetime_s: int = 60,
    jti: str | None = None,
    now: float | None = None,
    **extra: Any,
) -> str:
    now = int(now if now is not None else time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + lifetime_s,
              "jti": jti or secrets.token_urlsafe(12), **extra}  # fmt: skip
    pem = key.as_pem(private=True)
    return jwt.encode(claims, pem, algorithm="ES256", headers={"kid": key.kid})


def assertion_form(signed: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": signed, **extra}


async def key_client(http: httpx.AsyncClient, **fields: Any) -> str:
    body = {
        "name": "Key client",
        "grant_types": ["client_credentials"],
        "scope": "api:read",
        "token_endpoint_auth_method": "private_key_jwt",
        **fields,
    }
    response = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def client_credentials(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(
        "/token", data=assertion_form(token, grant_type="client_credentials", scope="api:read")
    )


@pytest.fixture
def key() -> ECKey:
    return ec_key()


async def test_private_key_jwt_authenticates_at_token_introspection_and_revocation(
    http: httpx.AsyncClient, key: ECKey
) -> None:
    client_id = await key_client(http, jwks=public_jwks(key))
    response = await client_credentials(http, assertion(client_id, key))
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    # RFC 7523 §3: the token endpoint URL is an accepted audience too.
    info = await http.post(
        "/introspect",
        data=assertion_form(assertion(client_id, key, aud=f"{ISSUER}/token"), token=access),
    )
    assert info.json()["active"] is True
    revoked = await http.post(
        "/revoke", data=assertion_form(assertion(client_id, key), token=access)
    )
    assert revoked.status_code == 200
    info = await http.post(
        "/introspect", data=assertion_form(assertion(client_id, key), token=access)
    )
    assert info.json() == {"active": False}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("replay", "used before"),
        ("other audience", "not issued for this recipient"),
        ("lives too long", "more than 300 s away"),
        ("expired", "expired"),
        ("other key", "not accepted"),
        ("no jti", "not issued for this recipient"),
        ("garbage", "not a well-formed JWT"),
        ("sub is not iss", "iss and sub"),
        ("wrong type", "client_assertion_type"),
        ("plus a secret", "one client authentication method"),
    ],
)
async def test_bad_assertions_are_refused_precisely(
    http: httpx.AsyncClient, key: ECKey, case: str, expected: str
) -> None:
    client_id = await key_client(http, jwks=public_jwks(key))
    token = assertion(client_id, key)
    form = assertion_form(token, grant_type="client_credentials")
    if case == "replay":
        assert (await http.post("/token", data=form)).status_code == 200
    elif case == "other audience":
        form["client_assertion"] = assertion(client_id, key, aud="https://other.example")
    elif case == "lives too long":
        form["client_assertion"] = assertion(client_id, key, lifetime_s=3600)
    elif case == "expired":
        form["client_assertion"] = assertion(client_id, key, lifetime_s=-120)
    elif case == "other key":
        form["client_assertion"] = assertion(client_id, ec_key(key.kid))
    elif case == "no jti":
        claims = jwt.decode(token, options={"verify_signature": False})
        del claims["jti"]
        form["client_assertion"] = jwt.encode(
            claims, key.as_pem(private=True), algorithm="ES256", headers={"kid": key.kid}
        )
    elif case == "garbage":
        form["client_assertion"] = "a.b"
    elif case == "sub is not iss":
        form["client_assertion"] = assertion(client_id, key, sub="someone-else")
    elif case == "wrong type":
        form["client_assertion_type"] = "urn:example"
    elif case == "plus a secret":
        form["client_secret"] = "x"
    response = await http.post("/token", data=form)
    assert response.status_code in (400, 401), response.text
    body = response.json()
    assert body["error"] in ("invalid_client", "invalid_request")
    assert expected in body["error_description"]


async def test_a_secret_client_cannot_use_an_assertion_nor_a_key_client_a_secret(
    http: httpx.AsyncClient, key: ECKey, secrets_seen: SecretsSeen
) -> None:
    created = await http.post(
        "/admin/clients",
        json={"name": "s", "grant_types": ["client_credentials"], "scope": "api:read"},
        headers=ADMIN,
    )
    secret_client = created.json()
    secrets_seen.add(secret_client["client_secret"])
    response = await client_credentials(http, assertion(secret_client["client_id"], key))
    assert response.json()["error"] == "invalid_client"
    client_id = await key_client(http, jwks=public_jwks(key))
    response = await http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(client_id, "guess")
    )
    assert response.json()["error"] == "invalid_client"


async def test_client_secret_jwt_signs_with_the_client_secret(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    created = await http.post(
        "/admin/clients",
        json={"name": "hs", "grant_types": ["client_credentials"], "scope": "api:read",
              "token_endpoint_auth_method": "client_secret_jwt"},
        headers=ADMIN,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    secrets_seen.add(secret)
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60,
              "jti": secrets.token_urlsafe(8)}  # fmt: skip
    good = jwt.encode(claims, secret, algorithm="HS256")
    assert (await client_credentials(http, good)).status_code == 200
    claims["jti"] = secrets.token_urlsafe(8)
    bad = jwt.encode(claims, "another secret of enough length 123", algorithm="HS256")
    assert (await client_credentials(http, bad)).json()["error"] == "invalid_client"
    rotated = await http.post(f"/admin/clients/{client_id}/secret", headers=ADMIN)
    assert rotated.status_code == 200, rotated.text
    new_secret = secrets_seen.add(rotated.json()["client_secret"])
    claims["jti"] = secrets.token_urlsafe(8)
    assert (await client_credentials(http, jwt.encode(claims, secret, "HS256"))).status_code == 401
    claims["jti"] = secrets.token_urlsafe(8)
    assert (
        await client_credentials(http, jwt.encode(claims, new_secret, "HS256"))
    ).status_code == 200


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]},
        "private",
        None,
    ],
)
async def test_key_metadata_is_validated(http: httpx.AsyncClient, jwks: Any) -> None:
    body: dict[str, Any] = {"name": "k", "grant_types": ["client_credentials"],
                            "token_endpoint_auth_method": "private_key_jwt"}  # fmt: skip
    if jwks == "private":
        body["jwks"] = {"keys": [ec_key().as_dict(private=True)]}
    elif jwks is not None:
        body["jwks"] = jwks
    response = await http.post("/admin/clients", json=body, headers=ADMIN)
    assert response.status_code in (400, 422), response.text


class JwksServer:
    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.calls = 0
        self.delay_s = 0.0

    def app(self) -> Starlette:
        async def jwks(_request: Request) -> Response:
            self.calls += 1
            if self.delay_s:
                await anyio.sleep(self.delay_s)
            return JSONResponse(self.jwks)

        return Starlette(routes=[Route("/jwks", jwks)])


@pytest.fixture
def jwks_server() -> Iterator[tuple[JwksServer, str]]:
    server = JwksServer()
    with serving(server.app()) as base:
        yield server, f"{base}/jwks"


async def test_jwks_uri_is_fetched_cached_and_refetched_on_an_unknown_kid_at_most_once(
    http: httpx.AsyncClient, clock: FrozenClock, jwks_server: tuple[JwksServer, str]
) -> None:
    server, uri = jwks_server
    first, second = ec_key(), ec_key()
    server.jwks = public_jwks(first)
    client_id = await key_client(http, jwks_uri=uri)
    assert (await client_credentials(http, assertion(client_id, first))).status_code == 200
    assert (await client_credentials(http, assertion(client_id, first))).status_code == 200
    assert server.calls == 1
    # The client adds a key: an assertion with its kid refetches the set, but only once the
    # refetch interval since the last fetch has passed (forged kids cannot flood the client).
    server.jwks = public_jwks(first, second)
    assert (await client_credentials(http, assertion(client_id, second))).status_code == 401
    assert server.calls == 1
    clock.advance(61)
    later = clock.timestamp()
    token = assertion(client_id, second, now=later)
    assert (await client_credentials(http, token)).status_code == 200
    assert server.calls == 2
    for _ in range(3):  # unknown kids within the interval: no more fetches
        token = assertion(client_id, ec_key(), now=later)
        assert (await client_credentials(http, token)).status_code == 401
    assert server.calls == 2


async def test_a_private_or_slow_jwks_uri_is_invalid_client_not_a_500(
    http: httpx.AsyncClient, key: ECKey, jwks_server: tuple[JwksServer, str]
) -> None:
    client_id = await key_client(http, jwks_uri="http://10.0.0.1/jwks")
    response = await client_credentials(http, assertion(client_id, key))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "the client's jwks_uri could not be fetched",
    }
    server, uri = jwks_server
    server.jwks, server.delay_s = public_jwks(key), 2.0  # four times the 0.5 s timeout
    slow_client = await key_client(http, jwks_uri=uri)
    response = await client_credentials(http, assertion(slow_client, key))
    assert response.status_code == 401
    assert response.json()["error_description"] == "the client's jwks_uri could not be fetched"


@pytest.fixture
def oidc_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {"accounts": TEST_ARGON2, "client_jwks_timeout_s": 0.5}
    return Settings.model_validate(data)


async def test_discovery_lists_the_key_methods(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    for name in ("token", "introspection", "revocation"):
        methods = doc[f"{name}_endpoint_auth_methods_supported"]
        assert {"private_key_jwt", "client_secret_jwt"} <= set(methods)
        assert "ES256" in doc[f"{name}_endpoint_auth_signing_alg_values_supported"]
        assert "none" not in doc[f"{name}_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.redis
async def test_an_assertion_replayed_on_another_replica_is_refused(
    settings: Settings,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
    key: ECKey,
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN,
                redis=shared_redis(redis_url, redis_prefix))  # fmt: skip
    shared = Settings.model_validate(data)
    try:
        async with replica(shared, clock) as one, replica(shared, clock) as two:
            client_id = await key_client(one, jwks=public_jwks(key))
            token = assertion(client_id, key)
            assert (await client_credentials(one, token)).status_code == 200
            replayed = await client_credentials(two, token)
            assert replayed.status_code == 401
            assert "used before" in replayed.json()["error_description"]
    finally:
        await forget_everything_in_redis(redis_url, redis_prefix)
