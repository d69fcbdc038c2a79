"""Signing in to the console through the ``tokend:admin`` scope: the console asks for it, the
provider grants it in a user's grant only to a user holding the admin scope role (realm-wide,
or on the ``tokend-console`` client for that client alone), and the console reads it from the
token response, not from anything the browser sends."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.api.console.conftest import ISSUER, Console, provider_sign_in
from tests.api.oidc.conftest import sign_in_and_consent
from tests.secrets_seen import SecretsSeen
from tokend.console.session import SESSION_COOKIE
from tokend.core.admin_auth import ADMIN_SCOPE
from tokend.oidc.admin_scope import CONSOLE_CLIENT_ID
from tokend.oidc.sql import SqlUsers

CONSOLE_ONLY = {CONSOLE_CLIENT_ID: ["admin"]}


async def _change_roles(
    console: Console, user_id: str, roles: tuple[str, ...], client_roles: dict[str, tuple[str, ...]]
) -> None:
    resources = console.slot.get()
    users = SqlUsers(resources.database, resources.clock)
    stored = await users.by_id(user_id)
    assert stored is not None
    await users.replace(dataclasses.replace(stored, roles=roles, client_roles=client_roles))


async def _console_sign_in(console: Console, email: str) -> httpx.Response:
    console.client.cookies.clear()
    start = await console.client.get("/console/login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    # The console asks the provider for the admin scope.
    assert ADMIN_SCOPE in query["scope"][0].split()
    return await provider_sign_in(console.client, start.headers["location"], email)


async def test_a_user_granted_the_admin_scope_on_the_console_client_gets_a_session(
    console: Console,
) -> None:
    # No realm-wide admin role: only the admin role of the console's own client.
    user = await console.user("console-op@example.org", [], client_roles=CONSOLE_ONLY)
    back = await _console_sign_in(console, user.email)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/console"
    assert SESSION_COOKIE in back.headers["set-cookie"]
    assert (await console.client.get("/console/clients")).status_code == 200
    stored = await console.client.get(f"/console/audit?actor={user.id}&action=sign_in")
    assert "via=scope" in stored.text


async def test_a_user_with_neither_the_role_nor_the_scope_is_refused(console: Console) -> None:
    # Roles that are not the admin role, at the console's client and realm-wide.
    user = await console.user(
        "nobody@example.org", ["auditor"], client_roles={CONSOLE_CLIENT_ID: ["viewer"]}
    )
    back = await _console_sign_in(console, user.email)
    assert back.status_code == 403
    assert "lacks the administrator role and was not granted the tokend:admin scope" in back.text
    assert SESSION_COOKIE not in back.headers.get("set-cookie", "").replace(
        "tokend_console_login", ""
    )
    assert (await console.client.get("/console/clients")).status_code == 303  # to sign in


async def test_an_admin_by_role_still_signs_in_and_is_recorded_so(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    back = await _console_sign_in(console, admin.email)
    assert back.status_code == 303, back.text
    stored = await console.client.get(f"/console/audit?actor={admin.id}&action=sign_in")
    assert "via=role" in stored.text


async def test_a_session_through_the_scope_ends_when_the_client_role_is_taken_away(
    console: Console,
) -> None:
    user = await console.user("console-op@example.org", [], client_roles=CONSOLE_ONLY)
    assert (await _console_sign_in(console, user.email)).status_code == 303
    assert (await console.client.get("/console/users")).status_code == 200
    await _change_roles(console, user.id, roles=(), client_roles={})
    assert (await console.client.get("/console/users")).status_code == 403


async def _code_client(console: Console, secrets_seen: SecretsSeen) -> tuple[str, str]:
    """An ordinary confidential client that may ask for ``openid tokend:admin``."""
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    made = await console.client.post(
        "/console/clients",
        data={"csrf_token": csrf, "name": "Ordinary app", "grant_authorization_code": "1",
              "grant_refresh_token": "1", "redirect_uris": f"{ISSUER}/cb",
              "scope": f"openid offline_access {ADMIN_SCOPE}"},
    )  # fmt: skip
    client_id = re.search(r'id="identifier">([^<]+)<', made.text)
    secret = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    assert client_id, made.text
    assert secret, made.text
    secrets_seen.add(secret[1])
    console.client.cookies.clear()
    return client_id[1], secret[1]


async def _granted_scope(
    console: Console, client: tuple[str, str], email: str, secrets_seen: SecretsSeen
) -> dict[str, str]:
    """Sign ``email`` in to the client asking for tokend:admin; the token response."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code", "client_id": client[0], "redirect_uri": f"{ISSUER}/cb",
        "scope": f"openid offline_access {ADMIN_SCOPE}", "code_challenge": challenge,
        "code_challenge_method": "S256",
    }  # fmt: skip
    transport = httpx.ASGITransport(app=console.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
        query = await sign_in_and_consent(browser, params, email, "a long password")
        answer = await browser.post(
            "/token",
            data={"grant_type": "authorization_code", "code": query["code"],
                  "redirect_uri": f"{ISSUER}/cb", "code_verifier": verifier},
            auth=client,
        )  # fmt: skip
    assert answer.status_code == 200, answer.text
    tokens: dict[str, str] = answer.json()
    secrets_seen.add(tokens["access_token"])
    secrets_seen.add(tokens["refresh_token"])
    return tokens


def _scope_of_access_token(token: str) -> set[str]:
    payload = token.split(".")[1]
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    found = re.search(rb'"scope":"([^"]*)"', claims)
    assert found, claims
    return set(found[1].decode().split())


async def test_a_user_cannot_obtain_the_admin_scope_for_an_ordinary_client(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    client = await _code_client(console, secrets_seen)
    plain = await console.user("plain@example.org", [])
    console_op = await console.user("console-op@example.org", [], client_roles=CONSOLE_ONLY)
    admin = await console.user("root@example.org", ["admin"])
    for user in (plain, console_op):
        tokens = await _granted_scope(console, client, user.email, secrets_seen)
        # RFC 6749 §5.1: the response names the scope granted; the token carries the same.
        assert set(tokens["scope"].split()) == {"openid", "offline_access"}, user.email
        assert ADMIN_SCOPE not in _scope_of_access_token(tokens["access_token"])
    # A realm-wide administrator is granted it (the client may ask for it).
    tokens = await _granted_scope(console, client, admin.email, secrets_seen)
    assert ADMIN_SCOPE in tokens["scope"].split()
    assert ADMIN_SCOPE in _scope_of_access_token(tokens["access_token"])


async def test_a_refresh_after_the_role_was_removed_no_longer_carries_the_admin_scope(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    client = await _code_client(console, secrets_seen)
    admin = await console.user("root@example.org", ["admin"])
    tokens = await _granted_scope(console, client, admin.email, secrets_seen)
    assert ADMIN_SCOPE in tokens["scope"].split()
    await _change_roles(console, admin.id, roles=(), client_roles={})
    refreshed = await console.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=client,
    )
    assert refreshed.status_code == 200, refreshed.text
    secrets_seen.add(refreshed.json()["access_token"])
    secrets_seen.add(refreshed.json()["refresh_token"])
    assert set(refreshed.json()["scope"].split()) == {"openid", "offline_access"}
