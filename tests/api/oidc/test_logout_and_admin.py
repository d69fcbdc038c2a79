"""RP-initiated logout, and the admin API's guard and CRUD."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.oidc.conftest import (
    ADMIN,
    REDIRECT,
    Register,
    RegisteredClient,
    code_params,
    csrf_of,
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


async def test_logout_without_a_hint_asks_and_staying_keeps_the_session(
    http: httpx.AsyncClient, register: Any, user: dict[str, Any]
) -> None:
    rp: RegisteredClient = await register()
    await tokens_for(http, rp, user)
    asked = await http.get("/logout", params={"client_id": rp.client_id})
    assert asked.status_code == 200
    assert "Test RP" in asked.text
    assert user["email"] in asked.text
    stay = await http.post(
        "/logout/confirm",
        data={"csrf_token": csrf_of(asked.text), "client_id": rp.client_id, "decision": "stay"},
    )
    assert "still signed in" in stay.text
    again = await http.get("/authorize", params=code_params(rp.client_id, pkce_pair()[1]))
    assert again.headers["location"].startswith(REDIRECT)
    leave = await http.post(
        "/logout/confirm", data={"csrf_token": csrf_of(asked.text), "decision": "logout"}
    )
    assert "You are signed out" in leave.text
    assert "tokend_session" in leave.headers["set-cookie"]
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
    # Not for the admin audience (core.admin_auth): 401. This token got a 403 before the one
    # admin policy, which looked at the scope only.
    plain: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read"
    )
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=plain.auth)
    ).json()["access_token"]
    not_for_admin = await http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert not_for_admin.status_code == 401
    assert 'error="invalid_token"' in not_for_admin.headers["www-authenticate"]
    # For the admin audience, without the scope: 403.
    audience = "http://testserver/admin"
    reader: RegisteredClient = await register(
        grant_types=["client_credentials"], redirect_uris=[], scope="api:read",
        audiences=[audience],
    )  # fmt: skip
    token = (
        await http.post("/token", data={"grant_type": "client_credentials"}, auth=reader.auth)
    ).json()["access_token"]
    forbidden = await http.get("/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
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


@pytest.mark.parametrize("change", ["disable", "delete"])
async def test_disabling_or_deleting_a_user_revokes_their_grants(
    http: httpx.AsyncClient, register: Any, user: dict[str, Any], change: str
) -> None:
    rp: RegisteredClient = await register()
    tokens = await tokens_for(http, rp, user)
    active = await http.post("/introspect", data={"token": tokens["access_token"]}, auth=rp.auth)
    assert active.json()["active"] is True
    if change == "disable":
        changed = await http.patch(
            f"/admin/users/{user['id']}", json={"disabled": True}, headers=ADMIN
        )
        assert changed.status_code == 200
        # Enabled again, the user still does not get the old grants back.
        await http.patch(f"/admin/users/{user['id']}", json={"disabled": False}, headers=ADMIN)
    else:
        deleted = await http.delete(f"/admin/users/{user['id']}", headers=ADMIN)
        assert deleted.status_code == 204
    for token in (tokens["access_token"], tokens["refresh_token"]):
        info = await http.post("/introspect", data={"token": token}, auth=rp.auth)
        assert info.json() == {"active": False}


async def test_deleting_a_client_revokes_the_grants_its_users_gave_it(
    http: httpx.AsyncClient, register: Register, user: dict[str, Any]
) -> None:
    # RFC 7592 §2.3 asks it of a deleted registration; the admin API deletes the same way.
    rp, other = await register(), await register()
    tokens, kept = await tokens_for(http, rp, user), await tokens_for(http, other, user)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await http.get("/userinfo", headers=bearer)).status_code == 200
    assert (await http.delete(f"/admin/clients/{rp.client_id}", headers=ADMIN)).status_code == 204
    refused = await http.get("/userinfo", headers=bearer)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # The user's grant to another client stays.
    info = await http.post("/introspect", data={"token": kept["refresh_token"]}, auth=other.auth)
    assert info.json()["active"] is True
    still = {"Authorization": f"Bearer {kept['access_token']}"}
    assert (await http.get("/userinfo", headers=still)).status_code == 200
