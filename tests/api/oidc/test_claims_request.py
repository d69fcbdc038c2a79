"""The ``claims`` request parameter's ``userinfo`` member (OIDC Core §5.5, §5.5.1): the claims
it asks for come back from the UserInfo endpoint for every access token of that authorization
(first and refreshed, JWT and opaque), once the user allowed them on the consent page, and only
those a scope the client may be granted would release."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import (
    PASSWORD,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
    pkce_pair,
    query_of,
    sign_in_and_consent,
)
from tests.api.oidc.test_conformance import exchange, new_user

PHONE = "+1 555 0177"
#: Asked for in each form §5.5.1 allows: null, essential, value and values.
WANTED = {
    "userinfo": {
        "phone_number": None,
        "phone_number_verified": {"essential": True},
        "address": {"value": "ignored: the user's own value is returned"},
        "unknown_claim": {"values": ["a", "b"]},
    }
}
ADDRESS = {"locality": "Springfield", "country": "US"}


async def userinfo(http: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    response = await http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refreshed(http: httpx.AsyncClient, rp: RegisteredClient, refresh: str) -> str:
    response = await http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh}, auth=rp.auth
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_userinfo_claims_beyond_the_scopes_are_released_after_consent(
    http: httpx.AsyncClient, register: Register, token_format: str
) -> None:
    rp = await register(
        scope="openid email phone address offline_access", access_token_format=token_format
    )
    user = await new_user(http, phone_number=PHONE, phone_number_verified=True, address=ADDRESS)
    verifier, challenge = pkce_pair()
    params = code_params(
        rp.client_id, challenge, scope="openid email offline_access", claims=json.dumps(WANTED)
    )
    started = await http.get("/authorize", params=params)
    uid = started.headers["location"].rsplit("/", 1)[1]
    page = await http.get(started.headers["location"])
    signed_in = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": PASSWORD},
    )
    consent = await http.get(signed_in.headers["location"])
    # The consent page names what the claims parameter asks for, not only the scopes.
    assert "See your phone number" in consent.text
    assert "See your postal address" in consent.text
    answer = await http.post(
        f"/interaction/{uid}/consent",
        data={"csrf_token": csrf_of(consent.text), "decision": "allow"},
    )
    tokens = await exchange(http, rp, query_of(answer.headers["location"])["code"], verifier)
    expected = {
        "sub": user["id"],
        "email": user["email"],
        "email_verified": False,
        "phone_number": PHONE,
        "phone_number_verified": True,
        "address": ADDRESS,
    }
    assert await userinfo(http, tokens["access_token"]) == expected
    # The scope granted did not grow: the claims are the authorization's, not the token's.
    assert tokens["scope"] == "email offline_access openid"
    # OIDC Core §12: every access token of the grant, refreshed ones too.
    access = await refreshed(http, rp, tokens["refresh_token"])
    assert await userinfo(http, access) == expected
    # Another authorization without the parameter releases by scope only.
    verifier, challenge = pkce_pair()
    plain = code_params(rp.client_id, challenge, scope="openid email offline_access")
    silent = await http.get("/authorize", params=plain)  # signed in, consented: at once
    tokens = await exchange(http, rp, query_of(silent.headers["location"])["code"], verifier)
    assert await userinfo(http, tokens["access_token"]) == {
        "sub": user["id"],
        "email": user["email"],
        "email_verified": False,
    }


async def test_userinfo_claims_the_client_may_not_be_granted_are_ignored(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope="openid email offline_access")
    user = await new_user(http, phone_number=PHONE, phone_number_verified=True)
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, scope="openid", claims=json.dumps(WANTED))
    code = (await sign_in_and_consent(http, params, user["email"]))["code"]
    tokens = await exchange(http, rp, code, verifier)
    assert await userinfo(http, tokens["access_token"]) == {"sub": user["id"]}


async def test_userinfo_claims_beyond_an_earlier_consent_ask_again(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope="openid email phone offline_access")
    user = await new_user(http, phone_number=PHONE)
    _, challenge = pkce_pair()
    first = code_params(rp.client_id, challenge, scope="openid email")
    await sign_in_and_consent(http, first, user["email"])
    _, challenge = pkce_pair()
    wanted = json.dumps({"userinfo": {"phone_number": {"essential": True}}})
    # The consent covers the scopes, not the phone number: prompt=none cannot go on.
    silent = code_params(
        rp.client_id, challenge, scope="openid email", claims=wanted, prompt="none"
    )
    response = await http.get("/authorize", params=silent)
    assert query_of(response.headers["location"])["error"] == "consent_required"
    silent.pop("prompt")
    response = await http.get("/authorize", params=silent)
    assert response.headers["location"].startswith("/interaction/")
    page = await http.get(response.headers["location"])
    assert "Allow access" in page.text
    assert "See your phone number" in page.text


@pytest.mark.parametrize(
    "bad",
    [
        "{",
        "[]",
        '{"userinfo": ["email"]}',
        '{"userinfo": "email"}',
        '{"userinfo": {"email": 1}}',
        '{"userinfo": {"email": "essential"}}',
        '{"userinfo": {"email": [true]}}',
    ],
)
async def test_a_malformed_claims_parameter_is_invalid_request(
    http: httpx.AsyncClient, register: Register, bad: str
) -> None:
    rp = await register()
    _, challenge = pkce_pair()
    response = await http.get("/authorize", params=code_params(rp.client_id, challenge, claims=bad))
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    assert query_of(location)["error"] == "invalid_request"


async def test_discovery_says_the_claims_parameter_is_supported(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["claims_parameter_supported"] is True
