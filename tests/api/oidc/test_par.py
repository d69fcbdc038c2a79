"""Pushed authorization requests (RFC 9126)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

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
from tests.api.oidc.test_client_assertions import assertion, assertion_form, ec_key, public_jwks
from tests.api.oidc.test_with_redis import forget_everything_in_redis
from tests.conftest import TEST_ARGON2, shared_redis
from tokend.config import Settings
from tokend.core.clock import FrozenClock

URN = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register()
    return client


async def push(
    http: httpx.AsyncClient, rp: RegisteredClient, params: dict[str, str]
) -> httpx.Response:
    return await http.post("/par", data=params, auth=rp.auth)


async def test_a_pushed_request_drives_the_code_flow(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    response = await push(http, rp, params)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["request_uri"].startswith(URN)
    assert body["expires_in"] == 60
    # RFC 9126 §4: only the pushed parameters count; a state in the query is ignored.
    front = {"client_id": rp.client_id, "request_uri": body["request_uri"], "state": "evil",
             "redirect_uri": REDIRECT}  # fmt: skip
    query = await sign_in_and_consent(http, front, user["email"])
    assert query["state"] == params["state"]
    token = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert token.status_code == 200, token.text
    # One use only.
    again = await http.get("/authorize", params=front)
    assert again.status_code == 400
    assert "expired or was already used" in again.text


async def test_a_request_uri_expires_after_60_seconds_and_is_bound_to_its_client(
    http: httpx.AsyncClient, rp: RegisteredClient, register: Register, clock: FrozenClock
) -> None:
    other = await register()
    _, challenge = pkce_pair()
    request_uri = (await push(http, rp, code_params(rp.client_id, challenge))).json()["request_uri"]
    stolen = await http.get(
        "/authorize", params={"client_id": other.client_id, "request_uri": request_uri}
    )
    assert stolen.status_code == 400
    clock.advance(61)
    late = await http.get(
        "/authorize", params={"client_id": rp.client_id, "request_uri": request_uri}
    )
    assert late.status_code == 400
    assert "expired or was already used" in late.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"scope": "nothing-known"}, "invalid_scope"),
        ({"request_uri": URN + "x"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"client_id": "someone-else"}, "invalid_request"),
    ],
)
async def test_a_bad_pushed_request_is_answered_to_the_client(
    http: httpx.AsyncClient, rp: RegisteredClient, change: dict[str, str], error: str
) -> None:
    _, challenge = pkce_pair()
    response = await push(http, rp, {**code_params(rp.client_id, challenge), **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_par_authenticates_the_client_like_the_token_endpoint(
    http: httpx.AsyncClient, rp: RegisteredClient
) -> None:
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    response = await http.post("/par", data=params, auth=(rp.client_id, "wrong"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert (await http.post("/par", data=params)).status_code == 401


async def test_par_with_private_key_jwt_addressed_to_the_par_endpoint(
    http: httpx.AsyncClient,
) -> None:
    key = ec_key()
    created = await http.post(
        "/admin/clients",
        json={"name": "k", "redirect_uris": [REDIRECT], "scope": "openid",
              "token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(key)},
        headers=ADMIN,
    )  # fmt: skip
    client_id = created.json()["client_id"]
    _, challenge = pkce_pair()
    params = code_params(client_id, challenge, scope="openid")
    signed = assertion(client_id, key, aud="http://testserver/par")
    response = await http.post("/par", data=assertion_form(signed, **params))
    assert response.status_code == 201, response.text


async def test_a_client_that_must_push_cannot_send_its_request_by_the_browser(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp = await register(require_pushed_authorization_requests=True)
    _, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge)
    response = await http.get("/authorize", params=params)
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_request"
    assert "push" in query["error_description"]
    request_uri = (await push(http, rp, params)).json()["request_uri"]
    front = {"client_id": rp.client_id, "request_uri": request_uri, "redirect_uri": REDIRECT}
    assert "code" in await sign_in_and_consent(http, front, user["email"])


async def test_discovery_advertises_par(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/.well-known/openid-configuration")).json()
    assert doc["pushed_authorization_request_endpoint"] == "http://testserver/par"
    assert doc["require_pushed_authorization_requests"] is False


async def test_the_global_setting_requires_par_of_every_client(
    settings: Settings, clock: FrozenClock
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN)
    data["oidc"] = {"accounts": TEST_ARGON2, "require_pushed_authorization_requests": True}
    async with replica(Settings.model_validate(data), clock) as http:
        doc = (await http.get("/.well-known/openid-configuration")).json()
        assert doc["require_pushed_authorization_requests"] is True
        created = await http.post(
            "/admin/clients",
            json={"name": "p", "redirect_uris": [REDIRECT], "scope": "openid"},
            headers=ADMIN,
        )
        _, challenge = pkce_pair()
        params = code_params(created.json()["client_id"], challenge, scope="openid")
        response = await http.get("/authorize", params=params)
        assert query_of(response.headers["location"])["error"] == "invalid_request"


@pytest.mark.redis
async def test_a_request_uri_pushed_to_one_replica_is_used_once_on_any(
    settings: Settings, clock: FrozenClock, redis_url: str, redis_prefix: str
) -> None:
    data = settings.model_dump(mode="python")
    data.update(modules=["oidc"], admin_token=ADMIN_TOKEN,
                redis=shared_redis(redis_url, redis_prefix))  # fmt: skip
    shared = Settings.model_validate(data)
    try:
        async with replica(shared, clock) as one, replica(shared, clock) as two:
            created = await one.post(
                "/admin/clients",
                json={"name": "p", "redirect_uris": [REDIRECT], "scope": "openid"},
                headers=ADMIN,
            )
            rp = RegisteredClient(created.json()["client_id"], created.json()["client_secret"])
            _, challenge = pkce_pair()
            pushed = await push(one, rp, code_params(rp.client_id, challenge, scope="openid"))
            front = {"client_id": rp.client_id, "request_uri": pushed.json()["request_uri"]}
            first = await two.get("/authorize", params=front)
            assert first.status_code == 303  # on to the sign-in page
            assert (await one.get("/authorize", params=front)).status_code == 400
    finally:
        await forget_everything_in_redis(redis_url, redis_prefix)
