from __future__ import annotations

import httpx


async def test_discovery_lists_only_what_is_supported(http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == "http://testserver"
    assert doc["token_endpoint"] == "http://testserver/token"
    assert doc["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    }
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["end_session_endpoint"] == "http://testserver/logout"
    same = await http.get("/.well-known/oauth-authorization-server")
    assert same.json() == doc


async def test_jwks_publishes_the_signing_keys(http: httpx.AsyncClient) -> None:
    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert {key["alg"] for key in keys} >= {"ES256", "RS256"}
    assert all("d" not in key for key in keys)


async def test_the_ciba_approval_page_is_off_unless_asked_for(http: httpx.AsyncClient) -> None:
    # oidc.ciba.approval_page unset and no demo: the page is not served (test_ciba.py turns it on).
    assert (await http.get("/ciba")).status_code == 404
