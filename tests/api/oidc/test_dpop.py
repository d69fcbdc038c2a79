"""DPoP (RFC 9449) at the provider: proofs at /token, PAR, userinfo and introspection,
DPoP-bound access tokens (cnf.jkt), codes bound by dpop_jkt, public clients' refresh tokens
bound to the key, server nonces."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey

from tests.api.oidc.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
    query_of,
    replica,
    sign_in_and_consent,
)
from tests.api.oidc.test_with_redis import forget_everything_in_redis
from tests.conftest import TEST_ARGON2, shared_redis
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock

ISSUER = "http://testserver"
TOKEN_URL = f"{ISSUER}/token"


def new_key() -> ECKey:
    return ECKey.generate_key("P-256")


def jkt_of(key: ECKey) -> str:
    return str(key.thumbprint())


def proof(
    key: ECKey,
    htm: str = "POST",
    htu: str = TOKEN_URL,
    *,
    access_token: str | None = None,
    typ: str = "dpop+jwt",
    jwk: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    body: dict[str, Any] = {"jti": secrets.token_urlsafe(12), "htm": htm, "htu": htu,
                            "iat": int(time.time())}  # fmt: skip
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode()).digest()
        body["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    body.update(claims)
    headers = {"typ": typ, "jwk": jwk if jwk is not None else key.as_dict(private=False)}
    return jwt.encode(body, key.as_pem(private=True), algorithm="ES256", headers=headers)


async def service_client(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen, **fields: Any
) -> RegisteredClient:
    response = await http.post(
        "/admin/clients",
        json={"name": "svc", "grant_types": ["client_credentials"], "scope": "api:read",
              **fields},
        headers=ADMIN,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    data = response.json()
    secrets_seen.add(data["client_secret"])
    return RegisteredClient(data["client_id"], data["client_secret"])


async def cc_token(
    http: httpx.AsyncClient, rp: RegisteredClient, dpop: str | list[str] | None
) -> httpx.Response:
    headers: list[tuple[str, str]] = []
    for value in [dpop] if isinstance(dpop, str) else dpop or []:
        headers.append(("DPoP", value))
    return await http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=rp.auth, headers=headers
    )


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_client_credentials_with_a_proof_issue_a_dpop_bound_token(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen, token_format: str
) -> None:
    rp = await service_client(http, secrets_seen, access_token_format=token_format)
    key = new_key()
    response = await cc_token(http, rp, proof(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    if token_format == "jwt":
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"jkt": jkt_of(key)}
    info = await http.post("/introspect", data={"token": body["access_token"]}, auth=rp.auth)
    assert info.json()["cnf"] == {"jkt": jkt_of(key)}
    assert info.json()["token_type"] == "DPoP"
    plain = (await cc_token(http, rp, None)).json()
    assert plain["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("replay", "used before"),
        ("wrong htu", "htu"),
        ("wrong htm", "htm"),
        ("old", "too old"),
        ("typ", "typ"),
        ("private jwk", "public key"),
        ("garbage", "well-formed"),
        ("two proofs", "one DPoP proof"),
        ("other key signed", "not accepted"),
    ],
)
async def test_bad_proofs_are_invalid_dpop_proof(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen, case: str, expected: str
) -> None:
    rp = await service_client(http, secrets_seen)
    key = new_key()
    dpop: str | list[str] = proof(key)
    if case == "replay":
        assert (await cc_token(http, rp, dpop)).status_code == 200
    elif case == "wrong htu":
        dpop = proof(key, htu="https://other.example/token")
    elif case == "wrong htm":
        dpop = proof(key, htm="GET")
    elif case == "old":
        dpop = proof(key, iat=int(time.time()) - 600)
    elif case == "typ":
        dpop = proof(key, typ="JWT")
    elif case == "private jwk":
        dpop = proof(key, jwk=key.as_dict(private=True))
    elif case == "garbage":
        dpop = "not.a.jwt"
    elif case == "two proofs":
        dpop = [proof(key), proof(key)]
    elif case == "other key signed":
        dpop = proof(key, jwk=new_key().as_dict(private=False))
    response = await cc_token(http, rp, dpop)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    assert expected in response.json()["error_description"]


async def test_a_client_with_dpop_bound_tokens_must_send_a_proof(
    http: httpx.AsyncClient, secrets_seen: SecretsSeen
) -> None:
    rp = await service_client(http, secrets_seen, dpop_bound_access_tokens=True)
    assert (await cc_token(http, rp, None)).json()["error"] == "invalid_dpop_proof"
    assert (await cc_token(http, rp, proof(new_key()))).status_code == 200


async def test_code_bound_by_dpop_jkt_tokens_and_userinfo_need_the_key(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(public=True)
    key = new_key()
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, dpop_jkt=jkt_of(key))
    query = await sign_in_and_consent(http, params, user["email"])
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier, "client_id": rp.client_id}  # fmt: skip
    # RFC 9449 §10: the code is redeemed with a proof of the key named at /authorize.
    wrong = await http.post("/token", data=data, headers={"DPoP": proof(new_key())})
    assert wrong.json()["error"] == "invalid_grant"
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, dpop_jkt=jkt_of(key))
    again = await http.get("/authorize", params=params)  # signed in and consented already
    data.update(code=query_of(again.headers["location"])["code"], code_verifier=verifier)
    response = await http.post("/token", data=data, headers={"DPoP": proof(key)})
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "DPoP"
    access = tokens["access_token"]
    url = f"{ISSUER}/userinfo"
    bound = {"Authorization": f"DPoP {access}"}
    good = await http.get(
        "/userinfo", headers={**bound, "DPoP": proof(key, "GET", url, access_token=access)}
    )
    assert good.status_code == 200, good.text
    assert good.json()["sub"] == user["id"]
    # RFC 9449 §7.2: a bound token presented as a bearer token is refused.
    downgraded = await http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert downgraded.status_code == 401
    assert downgraded.headers["www-authenticate"].startswith("DPoP ")
    no_ath = await http.get("/userinfo", headers={
        "Authorization": f"DPoP {access}", "DPoP": proof(key, "GET", url)})  # fmt: skip
    assert no_ath.status_code == 401
    assert no_ath.json()["error"] == "invalid_dpop_proof"
    other = new_key()
    stolen = await http.get(
        "/userinfo", headers={**bound, "DPoP": proof(other, "GET", url, access_token=access)}
    )
    assert stolen.status_code == 401
    assert 'error="invalid_token"' in stolen.headers["www-authenticate"]
    # RFC 9449 §5: the public client's refresh token is bound to the key too.
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": rp.client_id}  # fmt: skip
    refused = await http.post("/token", data=refresh, headers={"DPoP": proof(other)})
    assert refused.json()["error"] == "invalid_grant"
    renewed = await http.post("/token", data=refresh, headers={"DPoP": proof(key)})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"


async def test_a_proof_at_par_binds_the_code(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register()
    key = new_key()
    verifier, challenge = pkce_pair()
    pushed = await http.post(
        "/par",
        data=code_params(rp.client_id, challenge),
        auth=rp.auth,
        headers={"DPoP": proof(key, htu=f"{ISSUER}/par")},
    )
    assert pushed.status_code == 201, pushed.text
    front = {"client_id": rp.client_id, "request_uri": pushed.json()["request_uri"],
             "redirect_uri": REDIRECT}  # fmt: skip
    query = await sign_in_and_consent(http, front, user["email"])
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    unbound = await http.post("/token", data=data, auth=rp.auth)
    assert unbound.json()["error"] == "invalid_grant"


async def test_malformed_dpop_jkt_is_invalid_request(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register()
    _, challenge = pkce_pair()
    pushed = await http.post(
        "/par", data=code_params(rp.client_id, challenge, dpop_jkt="short"), auth=rp.auth
    )
    assert pushed.status_code == 400
    assert pushed.json()["error"] == "invalid_request"


async def test_server_nonces_are_required_when_configured(
    settings: Settings, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {"accounts": TEST_ARGON2, "dpop_require_nonce": True}
    async with replica(Settings.model_validate(data), clock) as http:
        rp = await service_client(http, secrets_seen)
        key = new_key()
        first = await cc_token(http, rp, proof(key))
        assert first.status_code == 400
        assert first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["dpop-nonce"]
        retried = await cc_token(http, rp, proof(key, nonce=nonce))
        assert retried.status_code == 200, retried.text
        assert retried.headers["dpop-nonce"]
        wrong = await cc_token(http, rp, proof(key, nonce="made-up"))
        assert wrong.json()["error"] == "use_dpop_nonce"


async def test_discovery_advertises_dpop(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    assert "HS256" not in doc["dpop_signing_alg_values_supported"]


@pytest.mark.redis
async def test_a_proof_replayed_on_another_replica_is_refused(
    settings: Settings,
    clock: FrozenClock,
    redis_url: str,
    redis_prefix: str,
    secrets_seen: SecretsSeen,
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN,
                redis=shared_redis(redis_url, redis_prefix))  # fmt: skip
    shared = Settings.model_validate(data)
    try:
        async with replica(shared, clock) as one, replica(shared, clock) as two:
            rp = await service_client(one, secrets_seen)
            dpop = proof(new_key())
            assert (await cc_token(one, rp, dpop)).status_code == 200
            replayed = await cc_token(two, rp, dpop)
            assert replayed.json()["error"] == "invalid_dpop_proof"
            assert "used before" in replayed.json()["error_description"]
    finally:
        await forget_everything_in_redis(redis_url, redis_prefix)
