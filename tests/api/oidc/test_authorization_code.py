"""The browser flow driven by hand: /authorize → login → consent → code → tokens."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import jwt
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
from tokend.core.clock import FrozenClock


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register()
    return client


async def exchange(
    http: httpx.AsyncClient, rp: RegisteredClient, code: str, verifier: str
) -> httpx.Response:
    return await http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=rp.auth,
    )


async def tokens_for(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    response = await exchange(http, rp, query["code"], verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_code_flow_issues_tokens_whose_id_token_follows_oidc_core(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    query = await sign_in_and_consent(http, params, user["email"])
    assert query["state"] == params["state"]
    assert query["iss"] == "http://testserver"
    response = await exchange(http, rp, query["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token",
                         "id_token"}  # fmt: skip
    jwks = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        body["id_token"],
        key=jwks[header["kid"]].key,
        algorithms=["RS256"],
        audience=rp.client_id,
        issuer="http://testserver",
    )
    assert claims["sub"] == user["id"]
    assert claims["nonce"] == params["nonce"]
    assert claims["auth_time"] == int(clock.now().timestamp())
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert {"iss", "sub", "aud", "exp", "iat"} <= set(claims)
    userinfo = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json() == {
        "sub": user["id"],
        "name": "Ada L",
        "email": user["email"],
        "email_verified": True,
    }


async def test_second_login_reuses_the_session_and_remembered_consent(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    await tokens_for(http, rp, user)
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT)
    assert "code" in query_of(response.headers["location"])


async def test_prompt_none_without_a_session_returns_login_required(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, prompt="none")
    response = await http.get("/authorize", params=params)
    query = query_of(response.headers["location"])
    assert query["error"] == "login_required"
    assert query["state"] == params["state"]


async def test_code_replay_fails_and_revokes_the_first_tokens(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    first = (await exchange(http, rp, query["code"], verifier)).json()
    replay = await exchange(http, rp, query["code"], verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    access = await http.post("/introspect", data={"token": first["access_token"]}, auth=rp.auth)
    assert access.json() == {"active": False}
    refresh = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=rp.auth,
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_pkce_verifier_mismatch_is_invalid_grant(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    response = await exchange(http, rp, query["code"], other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_plain_pkce_is_refused(http: httpx.AsyncClient, rp: RegisteredClient) -> None:
    verifier, _ = pkce_pair()
    params = code_params(rp.client_id, verifier, code_challenge_method="plain")
    response = await http.get("/authorize", params=params)
    assert response.status_code == 303
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert query["state"] == params["state"]
    assert query["iss"] == "http://testserver"


async def test_public_client_must_use_pkce(http: httpx.AsyncClient, register: Register) -> None:
    spa: RegisteredClient = await register(public=True)
    params = code_params(spa.client_id, "x")
    del params["code_challenge"], params["code_challenge_method"]
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_public_client_exchanges_its_code_with_pkce_and_no_secret(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    spa: RegisteredClient = await register(public=True)
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(http, code_params(spa.client_id, challenge), user["email"])
    response = await http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": spa.client_id,
        },
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://evil.example/callback", REDIRECT + "/", REDIRECT + "?x=1", "not a uri"],
)
async def test_redirect_uri_mismatch_never_redirects(
    http: httpx.AsyncClient, rp: RegisteredClient, redirect_uri: str
) -> None:
    params = code_params(rp.client_id, pkce_pair()[1], redirect_uri=redirect_uri)
    params["response_type"] = "token"  # an error that would otherwise be redirected
    response = await http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "not registered" in response.text


async def test_unknown_client_shows_an_error_page(http: httpx.AsyncClient) -> None:
    response = await http.get("/authorize", params={"client_id": "nope", "redirect_uri": REDIRECT})
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_unsupported_response_type_goes_back_to_the_client(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    params = code_params(rp.client_id, pkce_pair()[1], response_type="token")
    response = await http.get("/authorize", params=params)
    assert query_of(response.headers["location"])["error"] == "unsupported_response_type"


@pytest.mark.parametrize("csrf", [None, "forged-token-value"])
async def test_login_form_without_its_csrf_token_is_rejected(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], csrf: str | None
) -> None:
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    form = {"email": user["email"], "password": PASSWORD}
    if csrf is not None:
        form["csrf_token"] = csrf
    response = await http.post(f"/interaction/{uid}/login", data=form)
    assert response.status_code == 403
    assert "session" not in str(response.cookies)


async def test_login_form_from_another_browser_is_rejected(
    http: httpx.AsyncClient, oidc_app: Any, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    page = await http.get(response.headers["location"])
    uid = response.headers["location"].rsplit("/", 1)[1]
    transport = httpx.ASGITransport(app=oidc_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        stolen = await other.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": PASSWORD},
        )
    assert stolen.status_code == 403


async def test_repeated_failures_do_not_lock_out_the_right_password(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    csrf = csrf_of(page.text)
    for _ in range(5):
        failed = await http.post(
            f"/interaction/{uid}/login",
            data={"csrf_token": csrf, "email": user["email"], "password": "wrong password"},
        )
        assert failed.status_code == 400
        assert "not correct" in failed.text
    right = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf, "email": user["email"], "password": PASSWORD},
    )
    assert right.status_code == 303


async def test_wrong_password_shows_one_clear_error(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    failed = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": "nope nope"},
    )
    assert failed.status_code == 400
    assert failed.text.count('role="alert"') == 1
    assert "not correct" in failed.text


async def test_denied_consent_returns_access_denied(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    params = code_params(rp.client_id, pkce_pair()[1])
    response = await http.get("/authorize", params=params)
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    response = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": PASSWORD},
    )
    page = await http.get(response.headers["location"])
    response = await http.post(
        f"/interaction/{uid}/consent", data={"csrf_token": csrf_of(page.text), "decision": "deny"}
    )
    query = query_of(response.headers["location"])
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"]


async def test_session_cookie_is_httponly_and_lax(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    response = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    uid = response.headers["location"].rsplit("/", 1)[1]
    page = await http.get(response.headers["location"])
    response = await http.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_of(page.text), "email": user["email"], "password": PASSWORD},
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


async def test_max_age_forces_a_fresh_sign_in_once_the_last_one_is_too_old(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    await tokens_for(http, rp, user)
    params = code_params(rp.client_id, pkce_pair()[1], max_age="60")
    fresh = await http.get("/authorize", params=params)
    assert fresh.headers["location"].startswith(REDIRECT)
    clock.advance(61)
    stale = await http.get("/authorize", params={**params, "state": "again"})
    assert stale.headers["location"].startswith("/interaction/")
    page = await http.get(stale.headers["location"])
    assert "Sign in" in page.text


async def test_prompt_login_and_prompt_consent_ask_again(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    await tokens_for(http, rp, user)
    login = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1],
                                                            prompt="login"))  # fmt: skip
    assert "Sign in" in (await http.get(login.headers["location"])).text
    consent = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1],
                                                              prompt="consent"))  # fmt: skip
    assert "Allow access" in (await http.get(consent.headers["location"])).text
    none = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1],
                                                           prompt="none consent"))  # fmt: skip
    assert query_of(none.headers["location"])["error"] == "invalid_request"
