"""RFC 9701 signed introspection responses, per client, and the act/auth_time members."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.oidc.conftest import Register
from tests.api.oidc.test_authorization_code import tokens_for
from tokend.core.jwt import read_unverified

JWT_MEDIA = "application/token-introspection+jwt"


async def test_an_opted_in_client_gets_a_signed_response_others_json(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(jwt_introspection=True)
    tokens = await tokens_for(http, rp, user)
    signed = await http.post(
        "/introspect", data={"token": tokens["access_token"]}, auth=rp.auth,
        headers={"Accept": JWT_MEDIA},
    )  # fmt: skip
    assert signed.status_code == 200, signed.text
    assert signed.headers["content-type"] == JWT_MEDIA
    assert signed.headers["cache-control"] == "no-store"
    header, claims = read_unverified(signed.text)
    assert header["typ"] == "token-introspection+jwt"
    assert claims["iss"] == "http://testserver"
    assert claims["aud"] == rp.client_id
    inner = claims["token_introspection"]
    assert isinstance(inner, dict)
    assert inner["active"] is True
    assert inner["sub"] == user["id"]
    assert isinstance(inner["auth_time"], int)
    # The signature verifies against the provider's published keys.
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    plain = await http.post("/introspect", data={"token": tokens["access_token"]}, auth=rp.auth)
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["auth_time"] == inner["auth_time"]
    other = await register()
    other_tokens = await tokens_for(http, other, user)
    json_only = await http.post(
        "/introspect", data={"token": other_tokens["access_token"]}, auth=other.auth,
        headers={"Accept": JWT_MEDIA},
    )  # fmt: skip
    assert json_only.headers["content-type"] == "application/json"
    assert json_only.json()["active"] is True
    inactive = await http.post(
        "/introspect", data={"token": "nope"}, auth=rp.auth, headers={"Accept": JWT_MEDIA}
    )
    assert read_unverified(inactive.text)[1]["token_introspection"] == {"active": False}


async def test_discovery_lists_the_introspection_signing_alg(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/openid-configuration")).json()
    assert metadata["introspection_signing_alg_values_supported"] == [
        metadata["id_token_signing_alg_values_supported"][0]
    ]
