"""The console over HTTP (no browser): the sign-in redirect, the built-in client, the admin
check on every request, CSRF on every form, the APIs' validation next to the fields, secrets
shown once, the audit trail and the landing page. tests/e2e/test_console_browser.py signs in
through the real login page."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.api.console.conftest import ISSUER, Console, provider_sign_in, serving_console
from tests.api.oidc.accounts_helpers import account_sign_in, enrol_totp
from tests.api.oidc.conftest import csrf_of, sign_in_and_consent
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings
from tokend.console.session import SESSION_COOKIE
from tokend.oidc.admin_scope import CONSOLE_CLIENT_ID
from tokend.oidc.authn_context import ACR_MFA
from tokend.oidc.sql import SqlClients, SqlUsers
from tokend.vault.events import Events, EventType
from tokend.vault.records import NewClient
from tokend.vault.sql import SqlClients as SqlVaultClients
from tokend.vault.sql import SqlWebhookDeliveries


async def test_the_console_sends_a_stranger_through_the_providers_code_flow(
    console: Console,
) -> None:
    page = await console.client.get("/console/users")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=%2Fconsole%2Fusers"
    login = await console.client.get("/console/login")
    assert login.status_code == 303
    target = urlsplit(login.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert target.path == "/authorize"
    assert query["client_id"] == CONSOLE_CLIENT_ID
    assert query["redirect_uri"] == f"{ISSUER}/console/callback"
    assert query["code_challenge_method"] == "S256"
    assert query["response_type"] == "code"
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/console" in cookie
    # The provider knows the built-in client: the authorize request reaches the login page.
    authorize = await console.client.get(login.headers["location"])
    assert authorize.status_code in (302, 303)
    assert "/interaction/" in authorize.headers["location"]


async def test_the_built_in_client_is_public_and_pkce_bound(console: Console) -> None:
    resources = console.slot.get()
    client = await SqlClients(resources.database, resources.clock).get(CONSOLE_CLIENT_ID)
    assert client is not None
    assert client.is_public
    assert client.require_pkce
    assert f"{ISSUER}/console/callback" in client.redirect_uris


async def test_a_callback_whose_state_this_browser_did_not_send_is_refused(
    console: Console,
) -> None:
    await console.client.get("/console/login")
    answer = await console.client.get("/console/callback?code=abc&state=forged")
    assert answer.status_code == 400
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_only_an_enabled_user_with_the_admin_role_gets_pages(console: Console) -> None:
    plain = await console.user("plain@example.org", [])
    console.sign_in_as(plain)
    assert (await console.client.get("/console/clients")).status_code == 403
    disabled = await console.user("off@example.org", ["admin"], disabled=True)
    console.sign_in_as(disabled)
    assert (await console.client.get("/console/clients")).status_code == 403
    admin = await console.user("root@example.org", ["admin"])
    console.sign_in_as(admin)
    for path in ("/console", "/console/clients", "/console/users", "/console/keys",
                 "/console/directory", "/console/gateway", "/console/vault", "/console/guard",
                 "/console/audit"):  # fmt: skip
        page = await console.client.get(path)
        assert page.status_code == 200, path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"].startswith("no-store")
        assert f'href="{path}" aria-current="page"' in page.text


async def test_the_overview_shows_what_runs_and_the_upstreams(console: Console) -> None:
    console.sign_in_as(await console.user("root@example.org", ["admin"]))
    page = await console.client.get("/console")
    assert "database</strong> ok" in page.text
    assert "circuitBreakerState: closed" in page.text  # the gateway's /health details
    assert "HTTP requests" in page.text


async def test_every_form_needs_the_sessions_csrf_token(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    body = {
        "name": "No token",
        "grant_authorization_code": "1",
        "redirect_uris": "https://rp.example/cb",
    }
    assert (await console.client.post("/console/clients", data=body)).status_code == 403
    forged = {**body, "csrf_token": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}
    assert (await console.client.post("/console/clients", data=forged)).status_code == 403
    listed = await console.client.get("/console/clients?q=No+token")
    assert "No token" not in listed.text.split("<table", 1)[1].split("</table>", 1)[0]
    made = await console.client.post("/console/clients", data={**body, "csrf_token": csrf})
    assert made.status_code == 200
    assert "No token" in (await console.client.get("/console/clients?q=No+token")).text


async def test_a_new_clients_secret_is_shown_once_and_audited(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    made = await console.client.post(
        "/console/clients",
        data={
            "csrf_token": csrf,
            "name": "Svc",
            "grant_client_credentials": "1",
            "scope": "api:read",
        },
    )
    client_id = re.search(r'id="identifier">([^<]+)<', made.text)
    secret = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    assert client_id
    assert secret
    secrets_seen.add(secret.group(1))
    shown = await console.client.get(f"/console/clients/{client_id.group(1)}")
    assert shown.status_code == 200
    assert secret.group(1) not in shown.text
    token = await console.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id.group(1), secret.group(1)),
    )
    assert token.status_code == 200
    audit = await console.client.get("/console/audit?action=client_created")
    assert client_id.group(1) in audit.text
    assert admin.id in audit.text


async def test_bad_input_gets_the_apis_error_next_to_the_field(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    bad_client = await console.client.post(
        "/console/clients",
        data={"csrf_token": csrf, "name": "X", "grant_authorization_code": "1",
              "redirect_uris": "javascript:alert(1)"},
    )  # fmt: skip
    assert bad_client.status_code == 422
    assert 'id="e-redirect_uris"' in bad_client.text
    assert 'aria-invalid="true" aria-describedby="e-redirect_uris"' in bad_client.text
    bad_user = await console.client.post(
        "/console/users", data={"csrf_token": csrf, "email": "not-an-email", "password": "short"}
    )
    assert bad_user.status_code == 422
    assert 'id="e-email"' in bad_user.text
    assert 'id="e-password"' in bad_user.text
    assert "short" not in bad_user.text.split('id="f-password"', 1)[1].split(">", 1)[0]
    bad_prefix = await console.client.post(
        "/console/directory",
        data={"csrf_token": csrf, "prefix": "12a", "base_url": "https://telco.example",
              "client_id": "c", "client_secret": "s"},
    )  # fmt: skip
    assert bad_prefix.status_code == 422
    assert 'id="e-prefix"' in bad_prefix.text
    bad_consumer = await console.client.post(
        "/console/gateway", data={"csrf_token": csrf, "username": "has space"}
    )
    assert bad_consumer.status_code == 422
    assert 'id="e-username"' in bad_consumer.text


async def test_an_admin_made_in_the_console_can_be_disabled_and_loses_the_console(
    console: Console,
) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    email = f"second+{uuid4().hex[:8]}@example.org"
    made = await console.client.post(
        "/console/users",
        data={"csrf_token": csrf, "email": email, "password": "a long password",
              "administrator": "1"},
    )  # fmt: skip
    assert made.status_code == 303
    resources = console.slot.get()
    second = await SqlUsers(resources.database, resources.clock).by_email(email)
    assert second is not None
    assert "admin" in second.roles
    disabled = await console.client.post(
        f"/console/users/{second.id}/disable", data={"csrf_token": csrf}
    )
    assert disabled.status_code == 303
    console.sign_in_as(second)
    assert (await console.client.get("/console")).status_code == 403


async def test_no_landing_page_outside_the_demo_unless_configured(
    console: Console, settings: Settings
) -> None:
    assert (await console.client.get("/")).status_code == 404
    landing = settings.console.model_copy(update={"landing": True})
    app = create_app(settings.model_copy(update={"issuer": ISSUER, "console": landing}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert 'href="/console"' in page.text
    assert 'href="/.well-known/openid-configuration"' in page.text


async def test_clearing_the_guards_jwks_cache_is_audited(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    page = await console.client.get("/console/guard")
    assert "http://127.0.0.1:8000" in page.text  # tokend's own issuer is trusted
    cleared = await console.client.post("/console/guard/clear", data={"csrf_token": csrf})
    assert cleared.status_code == 303
    audit = await console.client.get("/console/audit?action=guard_jwks_cleared")
    assert admin.id in audit.text


async def test_vault_actions_on_an_app_without_a_connection_say_so(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    page = await console.client.get("/console/vault")
    assert "Providers" in page.text  # the catalog
    assert "<td>github" in page.text
    missing = await console.client.post("/console/vault/424242/revoke", data={"csrf_token": csrf})
    assert missing.status_code == 404
    assert "alert" in missing.text
    audit = await console.client.get("/console/audit?action=vault_revoke")
    assert "failed" in audit.text


async def test_the_audit_page_shows_the_providers_audit_events_too(console: Console) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    user = await console.user("someone@example.org", [])
    new_password = "a brand new password"
    reset = await console.client.post(
        f"/console/users/{user.id}/password", data={"csrf_token": csrf, "password": new_password}
    )
    assert reset.status_code == 303
    # The console's own event, and the provider's: the user's grants were revoked.
    audit = await console.client.get("/console/audit?action=user_password_reset")
    assert user.id in audit.text
    revoked = await console.client.get("/console/audit?action=auth.grants_revoked")
    assert user.id in revoked.text
    assert "password_changed" in revoked.text
    assert new_password not in revoked.text


async def _new_client(console: Console, csrf: str, name: str) -> tuple[str, str]:
    made = await console.client.post(
        "/console/clients",
        data={"csrf_token": csrf, "name": name, "grant_client_credentials": "1",
              "scope": "api:read"},
    )  # fmt: skip
    client_id = re.search(r'id="identifier">([^<]+)<', made.text)
    secret = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    assert client_id
    assert secret
    return client_id[1], secret[1]


async def test_a_client_is_edited_its_secret_rotated_then_deleted(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    client_id, old = await _new_client(console, csrf, "Lifecycle")
    secrets_seen.add(old)
    edited = await console.client.post(
        f"/console/clients/{client_id}",
        data={"csrf_token": csrf, "name": "Lifecycle 2", "grant_client_credentials": "1",
              "scope": "api:read api:write"},
    )  # fmt: skip
    assert edited.status_code == 303
    shown = await console.client.get(f"/console/clients/{client_id}")
    assert 'value="Lifecycle 2"' in shown.text
    assert 'value="api:read api:write"' in shown.text
    rotated = await console.client.post(
        f"/console/clients/{client_id}/secret", data={"csrf_token": csrf}
    )
    new = re.search(r'id="secret" class="secret">([^<]+)<', rotated.text)
    assert new
    secrets_seen.add(new[1])
    grant = {"grant_type": "client_credentials"}
    assert (
        await console.client.post("/token", data=grant, auth=(client_id, old))
    ).status_code == 401
    assert (
        await console.client.post("/token", data=grant, auth=(client_id, new[1]))
    ).status_code == 200
    deleted = await console.client.post(
        f"/console/clients/{client_id}/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    assert (await console.client.get(f"/console/clients/{client_id}")).status_code == 404


async def test_a_disabled_client_gets_no_token_until_it_is_enabled(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    client_id, secret = await _new_client(console, csrf, "Switched")
    secrets_seen.add(secret)
    grant = {"grant_type": "client_credentials"}

    async def token_status() -> int:
        response = await console.client.post("/token", data=grant, auth=(client_id, secret))
        return response.status_code

    assert await token_status() == 200
    forged = await console.client.post(
        f"/console/clients/{client_id}/disable", data={"csrf_token": "forged"}
    )
    assert forged.status_code == 403  # a wrong CSRF token: no change
    assert await token_status() == 200
    disabled = await console.client.post(
        f"/console/clients/{client_id}/disable", data={"csrf_token": csrf}
    )
    assert disabled.status_code == 303
    assert await token_status() == 401
    shown = await console.client.get(f"/console/clients/{client_id}")
    assert '<span id="client-status">disabled</span>' in shown.text
    assert f'action="/console/clients/{client_id}/enable"' in shown.text
    # Every other setting stays as it was.
    assert 'value="Switched"' in shown.text
    assert 'value="api:read"' in shown.text
    enabled = await console.client.post(
        f"/console/clients/{client_id}/enable", data={"csrf_token": csrf}
    )
    assert enabled.status_code == 303
    assert await token_status() == 200
    audit = await console.client.get("/console/audit?action=client_disabled")
    assert client_id in audit.text


async def test_keys_rotate_retire_and_remove(console: Console) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    keyring = console.slot.get().keyring
    before = {info.kid: info.state.value for info in keyring.list()}
    rotated = await console.client.post(
        "/console/keys/rotate", data={"csrf_token": csrf, "alg": "ES256"}
    )
    assert rotated.status_code == 303
    after = {info.kid: info.state.value for info in keyring.list()}
    retired = [
        kid for kid, state in after.items() if state == "retired" and before.get(kid) == "active"
    ]
    assert len(retired) == 1
    removed = await console.client.post(
        "/console/keys/remove", data={"csrf_token": csrf, "kid": retired[0]}
    )
    assert removed.status_code == 303
    assert retired[0] not in {info.kid for info in keyring.list()}
    active = next(kid for kid, state in after.items() if state == "active")
    refused = await console.client.post(
        "/console/keys/remove", data={"csrf_token": csrf, "kid": active}
    )
    assert refused.status_code == 409  # only retired keys can be removed
    bad = await console.client.post("/console/keys/rotate", data={"csrf_token": csrf, "alg": "HS1"})
    assert bad.status_code == 400


async def test_a_directory_entry_is_edited_without_showing_its_secret_then_removed(
    console: Console,
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    secret = "operator-secret-value"
    entry = {"csrf_token": csrf, "base_url": "https://telco.example", "client_id": "cid",
             "client_secret": secret, "enabled": "1"}  # fmt: skip
    prefix = str(uuid4().int)[:9]
    added = await console.client.post("/console/directory", data={**entry, "prefix": prefix})
    assert added.status_code == 303
    shown = await console.client.get(f"/console/directory/{prefix}")
    assert secret not in shown.text
    edited = await console.client.post(
        f"/console/directory/{prefix}",
        data={"csrf_token": csrf, "base_url": "https://telco2.example", "client_id": "cid",
              "name": "Renamed"},
    )  # fmt: skip
    assert edited.status_code == 303  # an empty secret keeps the current one
    listed = await console.client.get("/console/directory?q=Renamed")
    assert "https://telco2.example" in listed.text
    removed = await console.client.post(
        f"/console/directory/{prefix}/delete", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    assert (await console.client.get(f"/console/directory/{prefix}")).status_code == 404


async def test_a_revoked_consumers_key_stops_working(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    username = f"revoked-{uuid4().hex[:8]}"
    made = await console.client.post(
        "/console/gateway", data={"csrf_token": csrf, "username": username}
    )
    key = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    consumer = re.search(r'id="identifier">([^<]+)<', made.text)
    assert key
    assert consumer
    secrets_seen.add(key[1])
    assert (
        await console.client.get("/gateway/tokens", headers={"apikey": key[1]})
    ).status_code == 200
    revoked = await console.client.post(
        f"/console/gateway/{consumer[1]}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    assert (
        await console.client.get("/gateway/tokens", headers={"apikey": key[1]})
    ).status_code == 401


async def test_a_malformed_path_gets_a_console_page_not_json(console: Console) -> None:
    console.sign_in_as(await console.user("root@example.org", ["admin"]))
    for path in ("/console/clients/bad%20id", "/console/directory/12ab", "/console/vault/0/x"):
        page = await console.client.get(path)
        assert page.status_code in (404, 405, 422), path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_a_users_sessions_apps_and_second_factors_are_managed_from_their_page(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    admin = await console.user("root@example.org", ["admin"])
    csrf = console.sign_in_as(admin)
    made = await console.client.post(
        "/console/clients",
        data={"csrf_token": csrf, "name": "Photos", "grant_authorization_code": "1",
              "grant_refresh_token": "1", "redirect_uris": f"{ISSUER}/cb",
              "scope": "openid offline_access"},
    )  # fmt: skip
    client_id = re.search(r'id="identifier">([^<]+)<', made.text)
    secret = re.search(r'id="secret" class="secret">([^<]+)<', made.text)
    assert client_id, made.text
    assert secret, made.text
    secrets_seen.add(secret[1])
    person = await console.user("person@example.org", [])
    # The person signs in, allows the app and turns on an authenticator in a browser of their
    # own: a session, a consent, a refresh token and a second factor.
    transport = httpx.ASGITransport(app=console.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as browser:
        refresh = await _consented_refresh_token(browser, client_id[1], secret[1], person.email)
        secrets_seen.add(refresh)
        page = await console.client.get(f"/console/users/{person.id}")
        assert page.status_code == 200
        assert "Photos" in page.text
        assert client_id[1] in page.text
        assert "<dt>Authenticator app</dt><dd>none</dd>" in page.text
        assert "Reset second factors" not in page.text  # nothing to reset
        await enrol_totp(browser, datetime.now(UTC), secrets_seen)
        page = await console.client.get(f"/console/users/{person.id}")
        assert "<dt>Authenticator app</dt><dd>enrolled</dd>" in page.text
        sid = re.search(r'name="sid" value="([^"]+)"', page.text)
        assert sid, page.text

        # Every action needs the console's CSRF token.
        forged = await console.client.post(
            f"/console/users/{person.id}/sessions/end", data={"sid": sid[1]}
        )
        assert forged.status_code == 403
        assert (await browser.get("/account")).status_code == 200  # still signed in

        ended = await console.client.post(
            f"/console/users/{person.id}/sessions/end", data={"csrf_token": csrf, "sid": sid[1]}
        )
        assert ended.status_code == 303
        assert (await browser.get("/account")).status_code == 303  # sent to sign in again
        again = await console.client.post(
            f"/console/users/{person.id}/sessions/end", data={"csrf_token": csrf, "sid": sid[1]}
        )
        assert again.status_code == 404

        grant = {"grant_type": "refresh_token", "refresh_token": refresh}
        auth = (client_id[1], secret[1])
        refreshed = await browser.post("/token", data=grant, auth=auth)
        assert refreshed.status_code == 200, refreshed.text
        grant["refresh_token"] = secrets_seen.add(refreshed.json()["refresh_token"])
        withdrawn = await console.client.post(
            f"/console/users/{person.id}/apps/withdraw",
            data={"csrf_token": csrf, "client_id": client_id[1]},
        )
        assert withdrawn.status_code == 303
        refused = await browser.post("/token", data=grant, auth=auth)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"

    # A lost authenticator: the admin resets the person's second factors.
    reset = await console.client.post(
        f"/console/users/{person.id}/factors/reset", data={"csrf_token": csrf}
    )
    assert reset.status_code == 303
    page = await console.client.get(f"/console/users/{person.id}")
    assert "<dt>Authenticator app</dt><dd>none</dd>" in page.text
    assert "No app has access." in page.text
    assert "No live session." in page.text
    twice = await console.client.post(
        f"/console/users/{person.id}/factors/reset", data={"csrf_token": csrf}
    )
    assert twice.status_code == 404
    # This administrator's events: the trail is shared with every other test of the run.
    log = await console.client.get(f"/console/audit?actor={admin.id}")
    for action in ("user_session_ended", "user_access_withdrawn", "user_factors_reset"):
        assert action in log.text, action


async def _consented_refresh_token(
    browser: httpx.AsyncClient, client_id: str, secret: str, email: str
) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": f"{ISSUER}/cb",
        "scope": "openid offline_access", "code_challenge": challenge,
        "code_challenge_method": "S256", "prompt": "consent",
    }  # fmt: skip
    query = await sign_in_and_consent(browser, params, email, "a long password")
    answer = await browser.post(
        "/token",
        data={"grant_type": "authorization_code", "code": query["code"],
              "redirect_uri": f"{ISSUER}/cb", "code_verifier": verifier},
        auth=(client_id, secret),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["refresh_token"]
    return token


async def test_with_step_up_a_password_only_session_signs_in_with_its_second_factor_to_change(
    settings: Settings, secrets_seen: SecretsSeen
) -> None:
    async with serving_console(settings, step_up=True) as console:
        admin = await console.user("root@example.org", ["admin"])
        transport = httpx.ASGITransport(app=console.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as own:
            assert (await account_sign_in(own, admin.email, "a long password")).status_code == 303
            _seed, codes = await enrol_totp(own, datetime.now(UTC), secrets_seen)
        csrf = console.sign_in_as(admin)  # a console session without an acr: password-only
        assert (await console.client.get("/console/users")).status_code == 200  # looking is fine
        newcomer = {"csrf_token": csrf, "email": f"new-{uuid4().hex[:8]}@example.org",
                    "password": "another long password"}  # fmt: skip
        # Searched for (a row links the address): the list is paginated, and the run's other
        # tests add users too.
        listed = f"/console/users?q={newcomer['email']}"
        refused = await console.client.post(
            "/console/users", data=newcomer, headers={"referer": "http://testserver/console/users"}
        )
        assert refused.status_code == 403
        assert "second factor" in refused.text
        assert f'">{newcomer["email"]}</a>' not in (await console.client.get(listed)).text
        again = re.search(r'href="(/console/login\?[^"]+)"', refused.text)
        assert again, refused.text

        # Signing in again asks the provider for an essential multi-factor acr.
        start = await console.client.get(html.unescape(again[1]))
        location = start.headers["location"]
        claims = json.loads(parse_qs(urlsplit(location).query)["claims"][0])
        assert claims == {"id_token": {"acr": {"essential": True, "values": [ACR_MFA]}}}
        back = await provider_sign_in(console.client, location, admin.email, codes[0])
        assert back.status_code == 303, back.text
        assert back.headers["location"] == "/console/users"
        page = await console.client.get("/console/users")
        made = await console.client.post(
            "/console/users", data={**newcomer, "csrf_token": csrf_of(page.text)}
        )
        assert made.status_code == 303, made.text
        assert f'">{newcomer["email"]}</a>' in (await console.client.get(listed)).text
        log = (await console.client.get(f"/console/audit?actor={admin.id}")).text
        assert "step_up_required" in log

        # An administrator without a second factor is told to add one first.
        plain = await console.user("plain-admin@example.org", ["admin"])
        console.client.cookies.clear()
        start = await console.client.get("/console/login?step_up=1")
        told = await provider_sign_in(console.client, start.headers["location"], plain.email)
        assert told.status_code == 403
        assert "/account/security" in told.text
        assert SESSION_COOKIE not in told.headers.get("set-cookie", "")


async def test_an_apps_webhook_deliveries_are_listed_and_one_is_sent_again(
    console: Console, secrets_seen: SecretsSeen
) -> None:
    csrf = console.sign_in_as(await console.user("root@example.org", ["admin"]))
    received: list[dict[str, Any]] = []
    answers = [500]  # the first attempt fails: the job retries it

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=answers.pop(0) if answers else 204)

    with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        resources = console.slot.get()
        secret = secrets_seen.add("whsec-" + secrets.token_hex(16))
        app_record, _ = await SqlVaultClients(
            resources.database, resources.cipher, resources.clock
        ).register(
            NewClient(client_id=f"gbp-{uuid4().hex[:8]}", client_secret="app secret",
                      redirect_uri="https://tenant.example/cb", provider="github",
                      webhook_url=f"{base}/hook", webhook_secret=secret),
            None,
        )  # fmt: skip
        events = Events(lambda: resources.jobs, resources.clock, SqlWebhookDeliveries(
            resources.database
        ))  # fmt: skip
        await events.publish(EventType.CONNECTED, app_record)
        for _ in range(200):  # the failed attempt, then the retry
            if len(received) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(received) == 2
        event_id = received[0]["id"]
        page_url = f"/console/vault/{app_record.id}/deliveries"
        for _ in range(100):  # the retry's outcome is written after the receiver answered
            page = await console.client.get(page_url)
            if "delivered" in page.text:
                break
            await asyncio.sleep(0.05)
        assert page.status_code == 200
        assert event_id in page.text
        assert "connection.connected" in page.text
        assert '<span class="state delivered">delivered</span></td><td>2</td>' in page.text
        assert "HTTP 204" in page.text
        assert secret not in page.text
        listing = await console.client.get("/console/vault")
        assert page_url in listing.text

        forged = await console.client.post(
            f"/console/vault/deliveries/{event_id}/redeliver", data={"csrf_token": "forged"}
        )
        assert forged.status_code == 403
        again = await console.client.post(
            f"/console/vault/deliveries/{event_id}/redeliver", data={"csrf_token": csrf}
        )
        assert again.status_code == 303
        for _ in range(200):
            if len(received) >= 3:
                break
            await asyncio.sleep(0.05)
        assert received[2] == received[0]  # the same event, as first sent
        unknown = await console.client.post(
            "/console/vault/deliveries/evt_unknown/redeliver", data={"csrf_token": csrf}
        )
        assert unknown.status_code == 404
    log = await console.client.get("/console/audit?action=vault_redeliver")
    assert event_id in log.text
