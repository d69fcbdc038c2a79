"""``/account``: sign-in to the pages, CSRF, profile, password change with re-authentication,
sessions (see, end one, end the others), apps with access (see, withdraw: the grant's tokens
are revoked), and the same data in the admin API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.oidc.accounts_helpers import account_sign_in
from tests.api.oidc.conftest import (
    ADMIN,
    PASSWORD,
    REDIRECT,
    Register,
    code_params,
    csrf_of,
    pkce_pair,
    sign_in_and_consent,
)
from tests.secrets_seen import SecretsSeen


def browser(
    app: FastAPI, ip: str = "127.0.0.1", agent: str = "TestBrowser/1.0"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 50000))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": agent}
    )


async def open_signed_in(app: FastAPI, email: str, **kw: str) -> httpx.AsyncClient:
    """A browser signed in to /account; the caller closes it."""
    http = browser(app, **kw)
    answer = await account_sign_in(http, email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    return http


@asynccontextmanager
async def signed_in(app: FastAPI, email: str, **kw: str) -> AsyncIterator[httpx.AsyncClient]:
    http = await open_signed_in(app, email, **kw)
    try:
        yield http
    finally:
        await http.aclose()


async def test_account_pages_need_a_session(http: httpx.AsyncClient) -> None:
    for path in ("/account", "/account/security", "/account/sessions", "/account/apps"):
        answer = await http.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/account/sign-in"
    posted = await http.post("/account/apps/revoke", data={"client_id": "c_x"})
    assert posted.status_code == 303


async def test_a_wrong_password_does_not_open_the_account(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    answer = await account_sign_in(http, user["email"], password="not the password")
    assert answer.status_code == 400
    assert (await http.get("/account")).status_code == 303


async def test_profile_is_saved_and_forms_without_the_csrf_token_are_refused(
    oidc_app: FastAPI, user: dict[str, Any]
) -> None:
    async with signed_in(oidc_app, user["email"]) as http:
        page = await http.get("/account")
        assert page.status_code == 200
        assert user["email"] in page.text
        assert page.headers["cache-control"] == "no-store"
        csrf = csrf_of(page.text)
        forged = await http.post("/account/profile", data={"csrf_token": "x" * 20, "name": "Eve"})
        assert forged.status_code == 403
        missing = await http.post("/account/profile", data={"name": "Eve"})
        assert missing.status_code == 403
        saved = await http.post(
            "/account/profile",
            data={"csrf_token": csrf, "name": "Ada Lovelace", "given_name": "Ada",
                  "family_name": "", "locale": "en-GB"},
        )  # fmt: skip
        assert saved.status_code == 303
        page = await http.get(saved.headers["location"])
        assert "Your profile was saved." in page.text
    view = (await http_admin(oidc_app, f"/admin/users/{user['id']}")).json()
    assert (view["name"], view["given_name"], view["family_name"], view["locale"]) == (
        "Ada Lovelace", "Ada", None, "en-GB",
    )  # fmt: skip


async def http_admin(app: FastAPI, path: str, method: str = "GET") -> httpx.Response:
    async with browser(app) as admin:
        return await admin.request(method, path, headers=ADMIN)


async def test_password_change_needs_the_current_password_and_ends_other_sessions(
    oidc_app: FastAPI, user: dict[str, Any], secrets_seen: SecretsSeen
) -> None:
    new_password = secrets_seen.add("a brand new password 77")
    other = await open_signed_in(oidc_app, user["email"], ip="10.1.1.1")
    async with signed_in(oidc_app, user["email"]) as http:
        csrf = csrf_of((await http.get("/account/security")).text)
        refused = await http.post(
            "/account/password",
            data={
                "csrf_token": csrf,
                "current_password": "wrong one",
                "new_password": new_password,
            },
        )
        assert refused.status_code == 400
        assert "current password is not correct" in refused.text
        short = await http.post(
            "/account/password",
            data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "short"},
        )
        assert short.status_code == 400
        changed = await http.post(
            "/account/password",
            data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": new_password},
        )
        assert changed.status_code == 303
        # This browser stays signed in (a new session); the other one is out.
        assert (await http.get("/account/security")).status_code == 200
    assert (await other.get("/account")).status_code == 303
    await other.aclose()
    async with browser(oidc_app) as fresh:
        assert (await account_sign_in(fresh, user["email"], new_password)).status_code == 303


async def test_sessions_are_listed_and_one_on_another_browser_is_ended(
    oidc_app: FastAPI, user: dict[str, Any]
) -> None:
    phone = await open_signed_in(oidc_app, user["email"], ip="192.0.2.55", agent="PhoneBrowser/9")
    async with signed_in(oidc_app, user["email"]) as http:
        page = await http.get("/account/sessions")
        assert "PhoneBrowser/9" in page.text
        assert "192.0.2.55" in page.text
        assert "(this browser)" in page.text
        listed = (await http_admin(oidc_app, f"/admin/users/{user['id']}/sessions")).json()
        assert len(listed) == 2
        phone_sid = next(s["sid"] for s in listed if s["device"] == "PhoneBrowser/9")
        assert next(s for s in listed if s["sid"] == phone_sid)["amr"] == ["pwd"]
        ended = await http.post(
            "/account/sessions/end", data={"csrf_token": csrf_of(page.text), "sid": phone_sid}
        )
        assert ended.status_code == 303
        assert "PhoneBrowser/9" not in (await http.get("/account/sessions")).text
        assert (await phone.get("/account")).status_code == 303  # signed out there
        await phone.aclose()
        # Signing out everywhere else leaves this browser signed in.
        again = await open_signed_in(oidc_app, user["email"], ip="192.0.2.56")
        page = await http.get("/account/sessions")
        others = await http.post(
            "/account/sessions/end-others", data={"csrf_token": csrf_of(page.text)}
        )
        assert others.status_code == 303
        assert (await again.get("/account")).status_code == 303
        await again.aclose()
        assert (await http.get("/account")).status_code == 200


async def test_admin_ends_a_session(oidc_app: FastAPI, user: dict[str, Any]) -> None:
    async with signed_in(oidc_app, user["email"]) as http:
        listed = (await http_admin(oidc_app, f"/admin/users/{user['id']}/sessions")).json()
        sid = listed[0]["sid"]
        path = f"/admin/users/{user['id']}/sessions/{sid}"
        assert (await http_admin(oidc_app, path, "DELETE")).status_code == 204
        assert (await http_admin(oidc_app, path, "DELETE")).status_code == 404
        assert (await http.get("/account")).status_code == 303


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_removing_an_apps_access_revokes_its_tokens_and_asks_again(
    oidc_app: FastAPI, user: dict[str, Any], register: Register, token_format: str
) -> None:
    rp = await register(access_token_format=token_format)
    async with browser(oidc_app) as http:
        verifier, challenge = pkce_pair()
        query = await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
        tokens = (
            await http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"],
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                },
                auth=rp.auth,
            )
        ).json()
        apps = await account_page(http, user["email"], "/account/apps")
        assert "Test RP" in apps.text
        consents = (await http_admin(oidc_app, f"/admin/users/{user['id']}/consents")).json()
        assert [c["client_id"] for c in consents] == [rp.client_id]
        removed = await http.post(
            "/account/apps/revoke",
            data={"csrf_token": csrf_of(apps.text), "client_id": rp.client_id},
        )
        assert removed.status_code == 303
        assert "No app has access" in (await http.get("/account/apps")).text
        for token in (tokens["access_token"], tokens["refresh_token"]):
            answer = await http.post("/introspect", data={"token": token}, auth=rp.auth)
            assert answer.json() == {"active": False}
        refreshed = await http.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=rp.auth,
        )
        assert refreshed.status_code == 400
        # The consent is gone: the next authorization asks again.
        _, challenge = pkce_pair()
        started = await http.get("/authorize", params=code_params(rp.client_id, challenge))
        page = await http.get(started.headers["location"])
        assert "Allow access" in page.text


async def account_page(http: httpx.AsyncClient, email: str, path: str) -> httpx.Response:
    """``path`` of /account in a browser that may hold a provider session already."""
    page = await http.get(path)
    if page.status_code == 303:
        answer = await account_sign_in(http, email)
        assert answer.status_code == 303, answer.text
        page = await http.get(path)
    assert page.status_code == 200, page.text
    return page


async def test_admin_withdraws_an_apps_access(
    oidc_app: FastAPI, user: dict[str, Any], register: Register
) -> None:
    rp = await register()
    async with browser(oidc_app) as http:
        _, challenge = pkce_pair()
        await sign_in_and_consent(http, code_params(rp.client_id, challenge), user["email"])
    path = f"/admin/users/{user['id']}/consents/{rp.client_id}"
    assert (await http_admin(oidc_app, path, "DELETE")).status_code == 204
    assert (await http_admin(oidc_app, path, "DELETE")).status_code == 404
    assert (await http_admin(oidc_app, f"/admin/users/{user['id']}/consents")).json() == []


async def test_account_admin_api_needs_the_admin_token(
    http: httpx.AsyncClient, user: dict[str, Any]
) -> None:
    for method, path in (
        ("GET", f"/admin/users/{user['id']}/sessions"),
        ("DELETE", f"/admin/users/{user['id']}/factors"),
        ("GET", f"/admin/users/{user['id']}/consents"),
    ):
        answer = await http.request(method, path)
        assert answer.status_code == 401, (method, path)
