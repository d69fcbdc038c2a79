"""Browser login through a real ``tokend serve --only guard`` with headless Chromium:
tokend's /login, the upstream issuer's login page, /callback, /auth/me, /auth/refresh, /logout."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, start, tokend_env
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USERNAME,
    FakeIssuer,
)
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

pytestmark = [pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
SESSION_SECRET = "guard-session-secret-" + "x7Kp2" * 6


@pytest.fixture
def issuer(secrets_seen: SecretsSeen) -> Iterator[FakeIssuer]:
    secrets_seen.add(CLIENT_SECRET)
    secrets_seen.add(PASSWORD)
    secrets_seen.add(SESSION_SECRET)
    fake = FakeIssuer()
    with fake.serve():
        yield fake


@pytest.fixture
def tokend(tmp_path: Path, issuer: FakeIssuer) -> Iterator[Server]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = tokend_env(
        TOKEND_ISSUER=base,
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'guard.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_DEMO_DATA="true",  # migrates its own database
        # The seed's names, accepted as aliases inside the guard block.
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the issuer runs on loopback
        TOKEND_GUARD__KEYCLOAK_SERVER_URL=issuer.base,
        TOKEND_GUARD__KEYCLOAK_REALM=issuer.realm,
        TOKEND_GUARD__KEYCLOAK_CLIENT_ID=CLIENT_ID,
        TOKEND_GUARD__KEYCLOAK_CLIENT_SECRET=CLIENT_SECRET,
        TOKEND_GUARD__SESSION_SECRET_KEY=SESSION_SECRET,
        TOKEND_GUARD__JWKS_CACHE_TTL="120",
        TOKEND_GUARD__JWKS_REFETCH_INTERVAL_S="0.05",
        TOKEND_GUARD__POST_LOGIN_PATH="/auth/me",
        TOKEND_GUARD__POST_LOGOUT_REDIRECT_URI=f"{base}/health",
    )
    server = start(
        [*TOKEND, "serve", "--only", "guard", "--port", str(port)],
        env,
        port,
        tmp_path / "tokend.log",
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_browser_login_session_refresh_and_logout(
    tokend: Server, issuer: FakeIssuer, browser: Browser, secrets_seen: SecretsSeen
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{tokend.base_url}/login")
    # The upstream issuer's own login page.
    assert page.url.startswith(f"{issuer.issuer}/protocol/openid-connect/auth?")
    assert await page.text_content("h1") == "Sign in to demo"
    await page.fill("#username", USERNAME)
    await page.fill("#password", PASSWORD)
    async with page.expect_navigation(url=f"{tokend.base_url}/auth/me"):
        await page.click("#kc-login")

    me: dict[str, Any] = json.loads(await page.inner_text("body"))
    assert me["success"] is True
    assert me["message"] == "User information retrieved successfully"
    assert (me["data"]["preferred_username"], me["data"]["auth_method"]) == ("alice", "session")
    assert me["metadata"]["ttl"]["human_readable"] == "5 minutes"

    cookies = {c["name"]: c for c in await context.cookies(tokend.base_url)}
    session = cookies["tokend_session"]
    secrets_seen.add(session["value"])
    assert session["httpOnly"] is True
    assert session["secure"] is True
    assert session["sameSite"] == "Lax"
    assert "tokend_login" not in cookies  # the one-time login handle is gone
    # The cookie is only a handle: no token in it.
    assert session["value"].count(".") == 0
    assert len(session["value"]) >= 43

    refreshed = await page.request.post(f"{tokend.base_url}/auth/refresh")
    assert refreshed.status == 200
    assert (await refreshed.json())["message"] == "Token refreshed"

    await page.goto(f"{tokend.base_url}/logout")
    # RP-initiated logout went through the issuer and came back.
    assert page.url == f"{tokend.base_url}/health"
    assert issuer.ended_sessions[-1]["client_id"] == CLIENT_ID
    assert "tokend_session" not in {c["name"] for c in await context.cookies(tokend.base_url)}
    after = await page.request.get(
        f"{tokend.base_url}/auth/me", headers={"Cookie": f"tokend_session={session['value']}"}
    )
    assert after.status == 401
    assert (await after.json())["error"]["code"] == "UNAUTHORIZED"
    await context.close()


async def test_bearer_tokens_against_the_real_server(
    tokend: Server, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    async with httpx.AsyncClient(base_url=tokend.base_url, timeout=10) as client:
        anonymous = await client.get("/auth/me")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="tokend"'

        admin = secrets_seen.add(issuer.token())
        me = await client.get("/auth/me", headers={"Authorization": f"Bearer {admin}"})
        assert me.status_code == 200
        assert me.json()["data"]["roles"] == ["admin", "user"]
        info = await client.get("/cache/info", headers={"Authorization": f"Bearer {admin}"})
        assert info.status_code == 200

        user = secrets_seen.add(issuer.token(realm_access={"roles": ["user"]}))
        denied = await client.get("/cache/info", headers={"Authorization": f"Bearer {user}"})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"

        forged = secrets_seen.add(issuer.token(iss="https://evil.test"))
        bad = await client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]

        # Key rotation at the issuer: the new kid is fetched once and accepted (once the
        # 0.05 s refetch interval since the last fetch has passed).
        await anyio.sleep(0.1)
        fetches = issuer.jwks_fetches
        rotated = secrets_seen.add(issuer.token(issuer.rotate("k2", drop_old=True)))
        me = await client.get("/auth/me", headers={"Authorization": f"Bearer {rotated}"})
        assert me.status_code == 200
        assert issuer.jwks_fetches == fetches + 1
