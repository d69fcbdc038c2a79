"""Admin user lookups through tokend: the Keycloak admin API's answers in the envelope."""

from __future__ import annotations

import httpx
import pytest

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer


@pytest.fixture
def mount() -> str:
    """Served alone (the /guard prefix is covered by test_routes.py)."""
    return ""


async def test_user_lookups_answer_the_envelope(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    headers = {"Authorization": f"Bearer {secrets_seen.add(issuer.token())}"}
    response = await guard_client.get(f"{mount}/admin/users/user-1", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"]["user"]["username"] == "alice"
    response = await guard_client.get(
        f"{mount}/admin/users", params={"email": "alice@example.test"}, headers=headers
    )
    assert response.json()["data"]["user"]["id"] == "user-1"
    response = await guard_client.get(f"{mount}/admin/users/user-1/groups", headers=headers)
    assert response.json()["data"]["groups"][0]["path"] == "/sales"
    response = await guard_client.get(f"{mount}/admin/users", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_unknown_user_is_404_user_not_found(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    headers = {"Authorization": f"Bearer {secrets_seen.add(issuer.token())}"}
    response = await guard_client.get(f"{mount}/admin/users/nobody/roles", headers=headers)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "USER_NOT_FOUND",
        "message": "User not found",
        "details": {"user_id": "nobody"},
    }


async def test_admin_api_down_is_503_keycloak_connection_error(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    headers = {"Authorization": f"Bearer {secrets_seen.add(issuer.token())}"}
    assert (await guard_client.get(f"{mount}/auth/me", headers=headers)).status_code == 200
    issuer.admin_down = True
    response = await guard_client.get(f"{mount}/admin/users/user-1", headers=headers)
    assert response.status_code == 503
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "KEYCLOAK_CONNECTION_ERROR"
    assert body["error"]["message"] == "Keycloak server unreachable"


async def test_admin_lookups_need_the_admin_role(
    guard_client: httpx.AsyncClient, issuer: FakeIssuer, mount: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token(realm_access={"roles": ["user"]}))
    response = await guard_client.get(
        f"{mount}/admin/users/user-1", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert issuer.admin_calls == 0
