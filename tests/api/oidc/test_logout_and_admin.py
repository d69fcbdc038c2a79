"""RP-initiated logout, and the admin API's guard and CRUD."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.oidc.conftest import (
    ADMIN,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    pkce_pair,
)
from tests.api.oidc.test_authorization_code import tokens_for


async def test_logout_ends_the_session_and_returns_to_a_registered_uri(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp: RegisteredClient = await register()
    tokens = await tokens_for(http, rp, user)
    response = await http.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
            "state": "s1",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "https://rp.example/bye?state=s1"
    again = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    assert again.headers["location"].startswith("/interaction/")


async def test_logout_never_redirects_to_an_unregistered_uri(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    rp: RegisteredClient = await register()
    tokens = await tokens_for(http, rp, user)
    response = await http.get(
        "/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": REDIRECT},
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    forged = await http.get("/logout", params={"id_token_hint": tokens["access_token"]})
    assert forged.status_code == 400


async def test_admin_api_needs_a_token_with_the_admin_scope(
    http: httpx.AsyncClient, register: Register
) -> None:
    anonymous = await http.get("/admin/clients")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    plain: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read"
    )
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=plain.auth)
    ).json()["access_token"]
    forbidden = await http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403
    admin: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="tokend:admin"
    )
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=admin.auth)
    ).json()["access_token"]
    allowed = await http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200


async def test_client_crud_and_secret_rotation(http: httpx.AsyncClient, register: Register) -> None:
    svc: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read"
    )
    shown = await http.get(f"/admin/clients/{svc.client_id}", headers=ADMIN)
    assert shown.status_code == 200
    assert "client_secret" not in shown.json()
    assert "secret_hash" not in shown.text
    rotated = await http.post(f"/admin/clients/{svc.client_id}/secret", headers=ADMIN)
    new_secret = rotated.json()["client_secret"]
    old = await http.post("/token", data={"grant_type": "client_credentials"}, auth=svc.auth)
    assert old.status_code == 401
    new = await http.post(
        "/token", data={"grant_type": "client_credentials"}, auth=(svc.client_id, new_secret)
    )
    assert new.status_code == 200
    deleted = await http.delete(f"/admin/clients/{svc.client_id}", headers=ADMIN)
    assert deleted.status_code == 204
    gone = await http.get(f"/admin/clients/{svc.client_id}", headers=ADMIN)
    assert gone.status_code == 404
    assert gone.json()["status"] == 404


async def test_users_are_unique_by_email_case_insensitively(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    clash = await http.post(
        "/admin/users",
        json={"email": user["email"].upper(), "password": "another password"},
        headers=ADMIN,
    )
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    assert "another password" not in clash.text


async def test_invalid_client_registration_is_422_problem(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/admin/clients",
        json={"name": "x", "redirect_uris": ["https://rp.example/*"]},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
