"""Roles and groups in tokens: assigned through the admin API, carried by access and ID tokens
(and introspection) when the ``roles`` scope is granted, in the client's shape; the guard's
``require_roles`` accepts tokend's shape as it is."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI

from tests.api.oidc.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
    sign_in_and_consent,
)
from tokend.core.clock import FrozenClock
from tokend.guard import Guard, JWTValidator, TrustedIssuer

SCOPE = "openid profile email offline_access roles"
API = "https://orders.example"


async def new_user(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    # Unique for the whole run: the PostgreSQL database outlives each test, and id() of a
    # freed object comes back (a 409 for a later test once).
    email = f"role.{secrets.token_hex(6)}@example.org"
    body = {"email": email, "password": PASSWORD, "email_verified": True, **fields}
    response = await http.post("/admin/users", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def tokens(
    http: httpx.AsyncClient, rp: RegisteredClient, email: str, scope: str = SCOPE
) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    query = await sign_in_and_consent(
        http, code_params(rp.client_id, challenge, scope=scope), email
    )
    response = await http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query["code"],
              "redirect_uri": REDIRECT, "code_verifier": verifier},
        auth=rp.auth,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_a_manager_given_through_the_admin_api_passes_require_roles(
    http: httpx.AsyncClient, register: Register, clock: FrozenClock
) -> None:
    rp = await register(scope=SCOPE, audiences=[API])
    user = await new_user(http, roles=["manager"])
    access = (await tokens(http, rp, user["email"]))["access_token"]
    jwks = (await http.get("/.well-known/jwks.json")).json()
    trusted = TrustedIssuer(
        "http://testserver", audiences=frozenset({API}), typ="at+jwt", jwks=jwks
    )
    guard = Guard(JWTValidator([trusted], clock=clock), realm="orders")
    api = FastAPI(lifespan=guard.lifespan)
    guard.install(api)

    # Dependencies, not annotated parameters: this module's annotations are strings
    # (``from __future__``) that FastAPI could not resolve to the local ``guard``.
    @api.get("/orders", dependencies=[Depends(guard.require_roles("admin", "manager"))])
    async def orders() -> list[str]:
        return ["o-1"]

    @api.get("/audit", dependencies=[Depends(guard.require_roles("auditor"))])
    async def audit() -> list[str]:
        return []

    async with guard.lifespan(api):
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            bearer = {"Authorization": f"Bearer {access}"}
            allowed = await client.get("/orders", headers=bearer)
            denied = await client.get("/audit", headers=bearer)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == ["o-1"]
    assert denied.status_code == 403


async def test_flat_shape_carries_realm_and_own_client_roles_and_groups(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope=SCOPE)
    other = await register(scope=SCOPE)
    user = await new_user(
        http,
        roles=["manager"],
        groups=["/staff/nurses"],
        client_roles={rp.client_id: ["editor"], other.client_id: ["owner"]},
    )
    body = await tokens(http, rp, user["email"])
    access, id_token = unverified(body["access_token"]), unverified(body["id_token"])
    for claims in (access, id_token):
        assert claims["roles"] == ["manager", "editor"]  # not the other client's "owner"
        assert claims["groups"] == ["/staff/nurses"]
        assert "realm_access" not in claims


async def test_keycloak_shape_for_a_client_that_asks_for_it(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope=SCOPE, role_claims="keycloak", audiences=[API])
    other = await register(scope=SCOPE)
    user = await new_user(
        http,
        roles=["manager"],
        client_roles={rp.client_id: ["editor"], API: ["reader"], other.client_id: ["owner"]},
    )
    access = unverified((await tokens(http, rp, user["email"]))["access_token"])
    assert access["realm_access"] == {"roles": ["manager"]}
    assert access["resource_access"] == {
        rp.client_id: {"roles": ["editor"]},
        API: {"roles": ["reader"]},
    }
    assert "roles" not in access
    view = await http.get(f"/admin/clients/{rp.client_id}", headers=ADMIN)
    assert view.json()["role_claims"] == "keycloak"


async def test_without_the_roles_scope_no_role_is_disclosed(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope=SCOPE)
    user = await new_user(http, roles=["manager"], groups=["g"])
    body = await tokens(http, rp, user["email"], scope="openid offline_access")
    for token in (body["access_token"], body["id_token"]):
        claims = unverified(token)
        assert not {"roles", "groups", "realm_access"} & set(claims)


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_introspection_returns_the_current_roles(
    http: httpx.AsyncClient, register: Register, token_format: str
) -> None:
    rp = await register(scope=SCOPE, access_token_format=token_format)
    user = await new_user(http, roles=["manager"], groups=["g1"])
    body = await tokens(http, rp, user["email"])
    for token in (body["access_token"], body["refresh_token"]):
        answer = (await http.post("/introspect", data={"token": token}, auth=rp.auth)).json()
        assert answer["active"] is True
        assert answer["roles"] == ["manager"]
        assert answer["groups"] == ["g1"]
    changed = await http.patch(
        f"/admin/users/{user['id']}", json={"roles": ["viewer"]}, headers=ADMIN
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["roles"] == ["viewer"]
    answer = (
        await http.post("/introspect", data={"token": body["access_token"]}, auth=rp.auth)
    ).json()
    assert answer["roles"] == ["viewer"]


async def test_refresh_carries_the_roles_as_they_are_now(
    http: httpx.AsyncClient, register: Register
) -> None:
    rp = await register(scope=SCOPE)
    user = await new_user(http, roles=["manager"])
    body = await tokens(http, rp, user["email"])
    await http.patch(f"/admin/users/{user['id']}", json={"groups": ["ops"]}, headers=ADMIN)
    refreshed = await http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=rp.auth,
    )
    assert refreshed.status_code == 200, refreshed.text
    for token in (refreshed.json()["access_token"], refreshed.json()["id_token"]):
        claims = unverified(token)
        assert claims["roles"] == ["manager"]
        assert claims["groups"] == ["ops"]


@pytest.mark.parametrize(
    "fields",
    [
        {"roles": ["has space"]},
        {"groups": [""]},
        {"client_roles": {"bad client": ["r"]}},
        {"client_roles": {"c": "not-a-list"}},
    ],
)
async def test_bad_roles_are_a_precise_422(http: httpx.AsyncClient, fields: dict[str, Any]) -> None:
    body = {"email": "bad.roles@example.org", "password": PASSWORD, **fields}
    response = await http.post("/admin/users", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
