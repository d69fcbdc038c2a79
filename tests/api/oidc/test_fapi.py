"""The FAPI 2.0 Security Profile as a per-client switch: PAR, PKCE S256, DPoP,
private_key_jwt, PS256/ES256/EdDSA, codes of at most 60 s."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
from joserfc.jwk import ECKey, RSAKey
from pydantic import ValidationError

from tests.api.oidc.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    PASSWORD,
    REDIRECT,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    replica,
)
from tests.api.oidc.test_client_assertions import assertion, assertion_form, ec_key
from tests.api.oidc.test_dpop import new_key, proof
from tests.conftest import TEST_ARGON2
from tests.secrets_seen import SecretsSeen
from tokend.config import Settings
from tokend.core.clock import FrozenClock

ISSUER = "http://testserver"


@pytest.fixture
def oidc_settings(settings: Settings, secrets_seen: SecretsSeen) -> Settings:
    secrets_seen.add(ADMIN_TOKEN)
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    # Longer codes for everyone else: a FAPI client's still live 60 s.
    data["oidc"] = {"accounts": TEST_ARGON2, "code_ttl_s": 600}
    # FAPI 2.0 SP §5.4.1-1 covers the provider's signatures: a FAPI client needs them ES256.
    data["keys"] = {**data["keys"], "id_token_alg": "ES256"}
    return Settings.model_validate(data)


async def fapi_client(http: httpx.AsyncClient, key: ECKey | RSAKey, alg: str = "ES256") -> str:
    jwks = {"keys": [key.as_dict(private=False) | {"alg": alg}]}
    response = await http.post(
        "/admin/clients",
        json={"name": "bank", "redirect_uris": [REDIRECT], "scope": "openid accounts",
              "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
              "fapi2_profile": True, "skip_consent": True},
        headers=ADMIN,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def sign_in(http: httpx.AsyncClient, front: dict[str, str], email: str) -> dict[str, str]:
    response = await http.get("/authorize", params=front)
    assert response.status_code == 303, response.text
    page = await http.get(response.headers["location"])
    uid = response.headers["location"].rsplit("/", 1)[1]
    response = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    return query_of(response.headers["location"])


async def test_a_fapi_client_goes_par_private_key_jwt_pkce_dpop(
    http: httpx.AsyncClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    key = ec_key()
    client_id = await fapi_client(http, key)
    verifier, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid accounts")
    # §5.3.2.2-2: only pushed requests.
    direct = await http.get("/authorize", params=params)
    assert query_of(direct.headers["location"])["error"] == "invalid_request"
    no_pkce = {k: v for k, v in params.items() if not k.startswith("code_challenge")}
    refused = await http.post(
        "/par", data=assertion_form(assertion(client_id, key, aud=ISSUER), **no_pkce)
    )
    assert refused.json()["error"] == "invalid_request"
    form_post = await http.post(
        "/par",
        data=assertion_form(assertion(client_id, key), **params, response_mode="form_post"),
    )
    assert form_post.json()["error"] == "invalid_request"
    pushed = await http.post("/par", data=assertion_form(assertion(client_id, key), **params))
    assert pushed.status_code == 201, pushed.text
    front = {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}
    query = await sign_in(http, front, user["email"])
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    # §5.3.2.1-5: sender-constrained tokens, DPoP.
    no_dpop = await http.post("/token", data=assertion_form(assertion(client_id, key), **data))
    assert no_dpop.json()["error"] == "invalid_dpop_proof"
    dpop_key = new_key()
    token = await http.post(
        "/token",
        data=assertion_form(assertion(client_id, key), **data),
        headers={"DPoP": proof(dpop_key)},
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "DPoP"


async def test_a_fapi_code_lives_60_seconds(
    http: httpx.AsyncClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    key = ec_key()
    client_id = await fapi_client(http, key)
    verifier, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid accounts")
    pushed = await http.post("/par", data=assertion_form(assertion(client_id, key), **params))
    front = {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}
    query = await sign_in(http, front, user["email"])
    clock.advance(61)
    now = clock.timestamp()
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    late = await http.post(
        "/token",
        data=assertion_form(assertion(client_id, key, now=now), **data),
        headers={"DPoP": proof(new_key(), iat=int(now))},
    )
    assert late.json()["error"] == "invalid_grant"


async def test_a_fapi_client_authenticates_with_private_key_jwt_and_fapi_algorithms_only(
    http: httpx.AsyncClient,
) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(4)})
    client_id = await fapi_client(http, rsa, alg="RS256")
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60,
              "jti": secrets.token_urlsafe(8)}  # fmt: skip
    rs256 = jwt.encode(claims, rsa.as_pem(private=True), algorithm="RS256",
                       headers={"kid": rsa.kid})  # fmt: skip
    _, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid accounts")
    response = await http.post("/par", data=assertion_form(rs256, **params))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    refused = await http.post(
        "/admin/clients",
        json={"name": "x", "redirect_uris": [REDIRECT], "fapi2_profile": True},
        headers=ADMIN,
    )
    assert refused.status_code in (400, 422)


async def test_a_fapi_client_s_dpop_proofs_use_fapi_algorithms(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    key = ec_key()
    client_id = await fapi_client(http, key)
    verifier, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid accounts")
    pushed = await http.post("/par", data=assertion_form(assertion(client_id, key), **params))
    query = await sign_in(
        http, {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}, user["email"]
    )
    rsa = RSAKey.generate_key(2048)
    rs256_proof = jwt.encode(
        {"jti": secrets.token_urlsafe(8), "htm": "POST", "htu": f"{ISSUER}/token",
         "iat": int(time.time())},
        rsa.as_pem(private=True), algorithm="RS256",
        headers={"typ": "dpop+jwt", "jwk": rsa.as_dict(private=False)},
    )  # fmt: skip
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    response = await http.post(
        "/token",
        data=assertion_form(assertion(client_id, key), **data),
        headers={"DPoP": rs256_proof},
    )
    assert response.json()["error"] == "invalid_dpop_proof"
    assert "alg" in response.json()["error_description"]


async def test_a_fapi_client_gets_fapi_signed_id_tokens(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    key = ec_key()
    client_id = await fapi_client(http, key)
    verifier, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid accounts")
    pushed = await http.post("/par", data=assertion_form(assertion(client_id, key), **params))
    query = await sign_in(
        http, {"client_id": client_id, "request_uri": pushed.json()["request_uri"]}, user["email"]
    )
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier}  # fmt: skip
    token = await http.post(
        "/token",
        data=assertion_form(assertion(client_id, key), **data),
        headers={"DPoP": proof(new_key())},
    )
    assert token.status_code == 200, token.text
    # FAPI 2.0 SP §5.4.1-1: PS256, ES256 or EdDSA, for the provider's signatures too.
    assert jwt.get_unverified_header(token.json()["id_token"])["alg"] == "ES256"


async def test_a_provider_signing_with_rs256_serves_no_fapi_client(
    settings: Settings, clock: FrozenClock
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["keys"] = {**data["keys"], "id_token_alg": "RS256"}
    async with replica(Settings.model_validate(data), clock) as http:
        refused = await http.post(
            "/admin/clients",
            json={"name": "bank", "redirect_uris": [REDIRECT], "scope": "openid",
                  "token_endpoint_auth_method": "private_key_jwt",
                  "jwks": {"keys": [ec_key().as_dict(private=False) | {"alg": "ES256"}]},
                  "fapi2_profile": True},
            headers=ADMIN,
        )  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert "TOKEND_KEYS__ID_TOKEN_ALG" in refused.text
    # The switch for every client is refused at start-up for the same reason.
    data["oidc"] = {"accounts": TEST_ARGON2, "fapi2": True}
    with pytest.raises(ValidationError, match=r"oidc\.fapi2 needs keys\.id_token_alg ES256"):
        Settings.model_validate(data)
    data["keys"]["id_token_alg"] = "ES256"
    assert Settings.model_validate(data).oidc.fapi2
