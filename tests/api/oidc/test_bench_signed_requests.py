"""The bench's pre-signed client_credentials requests (bench.client_proofs) are what the provider
accepts, each once: the private_key_jwt assertion authenticates the registered client, the DPoP
proof binds the token to its key, and a request sent again is refused, which is why the bench
signs a pool of them before every run."""

from __future__ import annotations

import time

import httpx
import jwt
from bench.client_proofs import SignedClient, SigningKey, signed_requests
from joserfc.jwk import ECKey

from tests.api.oidc.conftest import ADMIN

ISSUER = "http://testserver"
FORM = {"grant_type": "client_credentials", "scope": "api:read"}


async def _register(http: httpx.AsyncClient, key: SigningKey) -> str:
    response = await http.post(
        "/admin/clients",
        json={"name": "bench", "grant_types": ["client_credentials"], "scope": "api:read",
              "token_endpoint_auth_method": "private_key_jwt",
              "token_endpoint_auth_signing_alg": "ES256", "jwks": {"keys": [key.public_jwk()]}},
        headers=ADMIN,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def _token(http: httpx.AsyncClient, body: str, proof: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if proof is not None:
        headers["DPoP"] = proof
    return await http.post("/token", content=body, headers=headers)


async def test_each_pre_signed_assertion_authenticates_the_client_once(
    http: httpx.AsyncClient,
) -> None:
    key = SigningKey.generate("bench-client")
    client = SignedClient(await _register(http, key), key, ISSUER, f"{ISSUER}/token")
    bodies, proofs = signed_requests(client, FORM, 2, int(time.time()))
    assert proofs == []
    assert len(set(bodies)) == 2
    for body in bodies:
        response = await _token(http, body, None)
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["client_id"] == client.client_id
    again = await _token(http, bodies[0], None)
    assert again.status_code == 401, again.text
    assert again.json()["error"] == "invalid_client"


async def test_each_pre_signed_dpop_proof_binds_the_token_once(http: httpx.AsyncClient) -> None:
    key = SigningKey.generate("bench-client")
    dpop_key = SigningKey.generate("bench-dpop")
    client_id = await _register(http, key)
    client = SignedClient(client_id, key, ISSUER, f"{ISSUER}/token", dpop_key=dpop_key)
    bodies, proofs = signed_requests(client, FORM, 2, int(time.time()))
    assert len(set(proofs)) == 2
    response = await _token(http, bodies[0], proofs[0])
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    thumbprint = ECKey.import_key(dpop_key.private.public_key()).thumbprint()
    assert claims["cnf"] == {"jkt": thumbprint}
    # A fresh assertion with a proof used before: the proof alone is refused.
    replayed = await _token(http, bodies[1], proofs[0])
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_dpop_proof"
