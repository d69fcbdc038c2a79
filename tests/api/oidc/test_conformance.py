"""OIDC Core conformance at /authorize: id_token_hint, unknown scopes, address/phone claims,
acr/amr, acr_values and the claims parameter, prompt=select_account, response_mode=form_post."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import jwt
import pytest

from tests.api.oidc.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)

ACR = "urn:tokend:acr:password"


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register(
        scope="openid profile email address phone offline_access"
    )
    return client


async def new_user(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    import secrets

    body = {"email": f"u.{secrets.token_hex(4)}@example.org", "password": PASSWORD, **fields}
    response = await http.post("/admin/users", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def exchange(
    http: httpx.AsyncClient, rp: RegisteredClient, code: str, verifier: str
) -> dict[str, Any]:
    response = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
              "code_verifier": verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str, **extra: str
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge, **extra), email)
    return await exchange(http, rp, query["code"], verifier)


async def id_claims(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
    header = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(
        token, keys[header["kid"]].key, algorithms=[header["alg"]], options={"verify_aud": False}
    )
    return claims


async def test_prompt_none_with_another_users_id_token_hint_is_login_required(
    http: httpx.AsyncClient, oidc_app: Any, rp: RegisteredClient
) -> None:
    ada, bob = await new_user(http), await new_user(http)
    ada_tokens = await sign_in(http, rp, ada["email"])
    transport = httpx.ASGITransport(app=oidc_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        bob_tokens = await sign_in(other, rp, bob["email"])
    _, challenge = pkce_pair()
    # Signed in as Ada, the client expects Bob: OIDC Core §3.1.2.1 / §3.1.2.6.
    params = code_params(
        rp.client_id, challenge, prompt="none", id_token_hint=bob_tokens["id_token"]
    )
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "login_required"
    # Without prompt=none the user is asked to sign in again, not given a code for Ada.
    params.pop("prompt")
    response = await http.get("/authorize", params=params)
    assert response.headers["location"].startswith("/interaction/")
    # The hint naming the signed-in user passes silently.
    params.update(prompt="none", id_token_hint=ada_tokens["id_token"])
    response = await http.get("/authorize", params=params)
    assert "code" in query_of(response.headers["location"])


async def test_an_id_token_hint_that_is_not_ours_is_invalid_request(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    forged = jwt.encode({"sub": "u_x", "aud": rp.client_id, "iss": "http://testserver"}, "k" * 32)
    for hint in (forged, "not-a-jwt"):
        params = code_params(rp.client_id, challenge, id_token_hint=hint)
        response = await http.get("/authorize", params=params)
        query = query_of(response.headers["location"])
        assert query["error"] == "invalid_request"
        assert query["state"] == params["state"]


async def test_unknown_scope_values_are_ignored(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    user = await new_user(http)
    tokens = await sign_in(http, rp, user["email"], scope="openid email no-such-scope")
    assert set(tokens["scope"].split()) == {"openid", "email"}
    _, challenge = pkce_pair()
    only_unknown = code_params(rp.client_id, challenge, scope="no-such-scope")
    response = await http.get("/authorize", params=only_unknown)
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


async def test_address_and_phone_scopes_release_their_claims(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    address = {"street_address": "1 Main St", "locality": "Springfield", "country": "US"}
    user = await new_user(http, address=address, phone_number="+1 555 0100",
                          phone_number_verified=True)  # fmt: skip
    assert user["address"]["locality"] == "Springfield"
    tokens = await sign_in(http, rp, user["email"], scope="openid address phone")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    claims = (await http.get("/userinfo", headers=bearer)).json()
    assert claims == {
        "sub": user["id"],
        "address": address,
        "phone_number": "+1 555 0100",
        "phone_number_verified": True,
    }
    tokens = await sign_in(http, rp, user["email"], scope="openid email")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert "phone_number" not in (await http.get("/userinfo", headers=bearer)).json()
    changed = await http.patch(
        f"/admin/users/{user['id']}", json={"address": None, "phone_number": None}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["address"] is None
    assert changed.json()["phone_number"] is None
    refused = await http.post(
        "/admin/users",
        json={"email": "p@example.org", "password": PASSWORD, "address": {"planet": "Mars"}},
        headers=ADMIN,
    )
    assert refused.status_code in (400, 422)


async def test_password_sign_in_issues_acr_and_rfc8176_amr(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    user = await new_user(http)
    tokens = await sign_in(http, rp, user["email"], acr_values=f"urn:other {ACR}")
    claims = await id_claims(http, tokens["id_token"])
    assert claims["acr"] == ACR
    assert claims["amr"] == ["pwd"]
    refreshed = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp.auth,
    )
    assert (await id_claims(http, refreshed.json()["id_token"]))["amr"] == ["pwd"]


async def test_an_essential_acr_that_cannot_be_met_is_refused(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    wanted = {"id_token": {"acr": {"essential": True, "values": ["urn:mfa"]}}}
    params = code_params(rp.client_id, challenge, claims=json.dumps(wanted))
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "unmet_authentication_requirements"


async def test_claims_parameter_puts_granted_claims_in_the_id_token(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    user = await new_user(http, name="Ada L", phone_number="+1 555 0101")
    wanted = {"id_token": {"email": {"essential": True}, "name": None, "phone_number": None,
                           "acr": {"essential": True, "values": [ACR]}},
              "userinfo": {"email": None}}  # fmt: skip
    tokens = await sign_in(
        http, rp, user["email"], scope="openid email profile", claims=json.dumps(wanted)
    )
    claims = await id_claims(http, tokens["id_token"])
    assert claims["email"] == user["email"]
    assert claims["name"] == "Ada L"
    assert claims["acr"] == ACR
    # phone was not a granted scope: the claims parameter never widens consent.
    assert "phone_number" not in claims
    for bad in ("[1]", "{", '{"id_token": ["email"]}', '{"id_token": {"email": 1}}'):
        _, challenge = pkce_pair()
        response = await http.get(
            "/authorize", params=code_params(rp.client_id, challenge, claims=bad)
        )
        assert query_of(response.headers["location"])["error"] == "invalid_request", bad


async def test_prompt_select_account_asks_to_sign_in_again(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    user = await new_user(http)
    await sign_in(http, rp, user["email"])
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, prompt="select_account")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/interaction/")
    assert "Sign in" in (await http.get(response.headers["location"])).text
    params["prompt"] = "none select_account"
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_response_mode_form_post_posts_the_code_to_the_client(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    user = await new_user(http)
    verifier, _ = pkce_pair()
    await sign_in(http, rp, user["email"])
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, response_mode="form_post")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in response.headers["content-security-policy"]
    assert f'action="{REDIRECT}"' in response.text
    fields = {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', response.text)
    }
    assert fields["state"] == params["state"]
    assert fields["iss"] == "http://testserver"
    await exchange(http, rp, fields["code"], verifier)
    # Errors use the requested mode too (after the redirect URI is validated).
    params.update(prompt="none", code_challenge_method="plain")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 200
    assert 'name="error" value="invalid_request"' in response.text


async def test_request_uri_outside_par_is_request_uri_not_supported(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, request_uri="https://rp.example/r")
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "request_uri_not_supported"


async def test_discovery_advertises_what_is_supported(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["claims_parameter_supported"] is True
    assert doc["acr_values_supported"] == [ACR, "urn:tokend:acr:mfa"]
    assert {"query", "form_post"} <= set(doc["response_modes_supported"])
    assert "select_account" in doc["prompt_values_supported"]
    assert {"address", "phone"} <= set(doc["scopes_supported"])
    assert {"amr", "address", "phone_number"} <= set(doc["claims_supported"])


async def test_resource_indicators_restrict_code_and_refresh_tokens(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(audiences=["https://api.example", "https://files.example"])
    user = await new_user(http)
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    data = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT,
            "code_verifier": verifier, "resource": "https://files.example"}  # fmt: skip
    response = await http.post("/token", data=data, auth=rp.auth)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["aud"] == (
        "https://files.example"
    )
    # RFC 8707 §2.2: a refresh may narrow to one resource; an unknown one is invalid_target
    # and leaves the refresh token usable.
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refused = await http.post(
        "/token", data={**refresh, "resource": "https://evil.example"}, auth=rp.auth
    )
    assert refused.json()["error"] == "invalid_target"
    narrowed = await http.post(
        "/token", data={**refresh, "resource": "https://api.example"}, auth=rp.auth
    )
    assert narrowed.status_code == 200, narrowed.text
    claims = jwt.decode(narrowed.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://api.example"


async def jarm_claims(http: httpx.AsyncClient, response_jwt: str, client_id: str) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
    header = jwt.get_unverified_header(response_jwt)
    claims: dict[str, Any] = jwt.decode(
        response_jwt, keys[header["kid"]].key, algorithms=[header["alg"]], audience=client_id,
        issuer="http://testserver",
    )  # fmt: skip
    return claims


async def test_jarm_signs_the_authorization_response(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    # Without a session and prompt=none: the error comes back signed.
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, response_mode="jwt", prompt="none")
    response = await http.get("/authorize", params=params)
    query = query_of(response.headers["location"])
    assert set(query) == {"response"}
    claims = await jarm_claims(http, query["response"], rp.client_id)
    assert claims["error"] == "login_required"
    assert claims["state"] == params["state"]
    user = await new_user(http)
    await sign_in(http, rp, user["email"])
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, response_mode="query.jwt")
    response = await http.get("/authorize", params=params)
    claims = await jarm_claims(http, query_of(response.headers["location"])["response"],
                               rp.client_id)  # fmt: skip
    assert claims["state"] == params["state"]
    assert claims["exp"] - claims["iat"] <= 600
    await exchange(http, rp, claims["code"], verifier)
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, response_mode="form_post.jwt")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 200
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', response.text))
    assert set(fields) == {"response"}
    assert "code" in await jarm_claims(http, html.unescape(fields["response"]), rp.client_id)
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert {"jwt", "query.jwt", "form_post.jwt"} <= set(doc["response_modes_supported"])
    assert doc["authorization_signing_alg_values_supported"] == ["RS256"]
