"""Refresh rotation with reuse detection; introspection, revocation and userinfo."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.api.oidc.conftest import (
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
    sign_in_and_consent,
)
from tests.api.oidc.test_authorization_code import exchange, tokens_for
from tokend.core.clock import FrozenClock


@pytest.fixture
async def rp(register: Register) -> RegisteredClient:
    client: RegisteredClient = await register()
    return client


async def refresh(
    http: httpx.AsyncClient, rp: RegisteredClient, token: str, **extra: str
) -> httpx.Response:
    return await http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": token, **extra},
        auth=rp.auth,
    )  # fmt: skip


async def introspect(http: httpx.AsyncClient, rp: RegisteredClient, token: str) -> dict[str, Any]:
    response = await http.post("/introspect", data={"token": token}, auth=rp.auth)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_refresh_rotates_the_refresh_token(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    response = await refresh(http, rp, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await introspect(http, rp, first["refresh_token"])) == {"active": False}
    assert (await introspect(http, rp, second["refresh_token"]))["active"] is True


@pytest.fixture
async def rp_with_grace(register: Any) -> RegisteredClient:
    """A confidential client that opted into a 10 s reuse grace (the default is none)."""
    client: RegisteredClient = await register(refresh_grace_s=10)
    return client


async def test_reuse_revokes_the_family_at_once_without_a_grace_period(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    second = (await refresh(http, rp, first["refresh_token"])).json()
    reuse = await refresh(http, rp, first["refresh_token"])
    assert reuse.json()["error"] == "invalid_grant"
    assert (await refresh(http, rp, second["refresh_token"])).json()["error"] == "invalid_grant"


async def test_reuse_within_the_grace_period_returns_the_same_successor(
    http: httpx.AsyncClient,
    rp_with_grace: RegisteredClient,
    user: dict[str, Any],
    clock: FrozenClock,
) -> None:
    rp = rp_with_grace
    first = await tokens_for(http, rp, user)
    a = (await refresh(http, rp, first["refresh_token"])).json()
    clock.advance(5)
    b = await refresh(http, rp, first["refresh_token"])
    assert b.status_code == 200, b.text
    assert b.json()["refresh_token"] == a["refresh_token"]
    assert (await refresh(http, rp, a["refresh_token"])).status_code == 200


async def test_reuse_after_the_grace_period_revokes_the_whole_family(
    http: httpx.AsyncClient,
    rp_with_grace: RegisteredClient,
    user: dict[str, Any],
    clock: FrozenClock,
) -> None:
    rp = rp_with_grace
    first = await tokens_for(http, rp, user)
    second = (await refresh(http, rp, first["refresh_token"])).json()
    clock.advance(11)
    reuse = await refresh(http, rp, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert (await refresh(http, rp, second["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await introspect(http, rp, second["access_token"])) == {"active": False}


async def test_scope_escalation_on_refresh_is_refused(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    response = await refresh(http, rp, first["refresh_token"], scope="openid admin")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    narrower = await refresh(http, rp, first["refresh_token"], scope="openid")
    assert narrower.status_code == 200
    assert narrower.json()["scope"] == "openid"


async def test_refresh_token_of_another_client_is_invalid_grant(
    http: httpx.AsyncClient, rp: RegisteredClient, register: Register, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    other: RegisteredClient = await register()
    response = await refresh(http, other, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"


async def test_revoking_a_refresh_token_revokes_its_family(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    response = await http.post(
        "/revoke",
        data={"token": first["refresh_token"], "token_type_hint": "refresh_token"},
        auth=rp.auth,
    )
    assert response.status_code == 200
    assert (await refresh(http, rp, first["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await introspect(http, rp, first["access_token"])) == {"active": False}


async def test_revoked_access_token_is_inactive_and_refused_at_userinfo(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    active = await introspect(http, rp, first["access_token"])
    assert active["active"] is True
    assert active["sub"] == user["id"]
    assert active["client_id"] == rp.client_id
    await http.post("/revoke", data={"token": first["access_token"]}, auth=rp.auth)
    assert (await introspect(http, rp, first["access_token"])) == {"active": False}
    userinfo = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert userinfo.status_code == 401
    # RFC 6750 §3.1: invalid_token; the description never says which of the three it was.
    assert userinfo.headers["www-authenticate"] == (
        'Bearer realm="tokend", error="invalid_token", '
        'error_description="the access token is invalid, expired or revoked"'
    )


async def test_expired_access_token_is_inactive_and_refused_at_userinfo(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    first = await tokens_for(http, rp, user)
    clock.advance(first["expires_in"] + 1)
    assert (await introspect(http, rp, first["access_token"])) == {"active": False}
    userinfo = await http.get(
        "/userinfo", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert userinfo.status_code == 401


async def test_revoking_someone_elses_token_does_nothing(
    http: httpx.AsyncClient, rp: RegisteredClient, register: Register, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    other: RegisteredClient = await register()
    response = await http.post("/revoke", data={"token": first["access_token"]}, auth=other.auth)
    assert response.status_code == 200
    assert (await introspect(http, rp, first["access_token"]))["active"] is True


async def test_introspection_needs_client_authentication(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    response = await http.post("/introspect", data={"token": first["access_token"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    unknown = await introspect(http, rp, "not-a-token")
    assert unknown == {"active": False}


async def test_userinfo_without_a_token_is_401_with_a_bearer_challenge(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/userinfo")
    assert response.status_code == 401
    # RFC 6750 §3.1: a request without credentials gets a challenge with no error code.
    assert response.headers["www-authenticate"] == 'Bearer realm="tokend"'
    garbage = await http.post(
        "/userinfo", data={"access_token": "garbage"}, headers={"Authorization": "Bearer x"}
    )
    # RFC 6750 §2: a token sent by two methods at once is an invalid_request.
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "invalid_request"


async def test_concurrent_refreshes_of_one_token_both_succeed_with_one_successor(
    http: httpx.AsyncClient, rp_with_grace: RegisteredClient, user: dict[str, Any]
) -> None:
    rp = rp_with_grace
    first = await tokens_for(http, rp, user)
    results: list[httpx.Response] = []

    async def one() -> None:
        results.append(await refresh(http, rp, first["refresh_token"]))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
    assert [r.status_code for r in results] == [200, 200, 200]
    assert len({r.json()["refresh_token"] for r in results}) == 1


async def test_concurrent_refreshes_without_a_grace_period_revoke_the_family(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    first = await tokens_for(http, rp, user)
    results: list[httpx.Response] = []

    async def one() -> None:
        results.append(await refresh(http, rp, first["refresh_token"]))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
    assert sorted(r.status_code for r in results) == [200, 400, 400]
    winner = next(r for r in results if r.status_code == 200).json()
    assert (await refresh(http, rp, winner["refresh_token"])).json()["error"] == "invalid_grant"


async def verified_id_token(
    http: httpx.AsyncClient, rp: RegisteredClient, id_token: str
) -> dict[str, Any]:
    """The ID token's claims, verified with PyJWT against the published JWKS alone."""
    jwks = jwt.PyJWKSet.from_dict((await http.get("/.well-known/jwks.json")).json())
    header = jwt.get_unverified_header(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key=jwks[header["kid"]].key,
        algorithms=[header["alg"]],
        audience=rp.client_id,
        issuer="http://testserver",
        leeway=120,  # the app's clock is moved ahead of the wall clock
    )
    return claims


async def test_refresh_of_an_openid_grant_returns_a_new_id_token_for_the_same_login(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any], clock: FrozenClock
) -> None:
    first = await tokens_for(http, rp, user)
    original = await verified_id_token(http, rp, first["id_token"])
    clock.advance(30)
    response = await refresh(http, rp, first["refresh_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    claims = await verified_id_token(http, rp, body["id_token"])
    # OIDC Core §12.2: same iss and sub, aud the client, new iat, the original auth_time.
    assert claims["iss"] == original["iss"]
    assert claims["sub"] == original["sub"] == user["id"]
    assert claims["aud"] == rp.client_id
    assert claims["iat"] == original["iat"] + 30
    assert claims["auth_time"] == original["auth_time"]
    assert claims.get("acr") == original.get("acr")
    assert "nonce" not in claims
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_refresh_without_openid_in_the_grant_returns_no_id_token(
    http: httpx.AsyncClient, rp: RegisteredClient, user: dict[str, Any]
) -> None:
    verifier, challenge = pkce_pair()
    params = code_params(rp.client_id, challenge, scope="profile offline_access")
    query = await sign_in_and_consent(http, params, user["email"])
    tokens = (await exchange(http, rp, query["code"], verifier)).json()
    assert "id_token" not in tokens
    response = await refresh(http, rp, tokens["refresh_token"])
    assert response.status_code == 200, response.text
    assert set(response.json()) == {
        "access_token", "token_type", "expires_in", "scope", "refresh_token",
    }  # fmt: skip
