"""Accounts in a real browser against a real ``tokend serve``: headless Chromium (Playwright)
signs in to /account, turns on two-step verification with a TOTP code computed here, is asked
for a code on the next sign-in to an app, uses a recovery code once, sees and ends a session of
another browser, and sees and removes an app's access (its tokens stop working); two accounts
signed in on one browser are offered by the account chooser (``prompt=select_account``), which
works from the keyboard.

Screenshots of the pages go to var/screenshots/account-*.png (``make account-screenshots``
copies them to docs/screenshots for the README).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pyotp
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.secrets_seen import SecretsSeen

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e accounts password 5"
EMAIL = "account.e2e@example.org"
PASSKEY_EMAIL = "passkey.e2e@example.org"
#: Two accounts the account chooser offers (no second factor: the other tests add one to EMAIL).
CHOOSER_EMAILS = ("first.chooser@example.org", "second.chooser@example.org")
AUTOFILL_EMAIL = "autofill.e2e@example.org"
#: A browser without conditional mediation (WebAuthn L3 §5.1.4): the login page then offers
#: passkeys by its button only. Chromium has it, and its virtual authenticator answers a
#: conditional request at once, which would sign in before the button could be pressed.
WITHOUT_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
CALLBACK = "http://127.0.0.1:9/cb"
SCREENSHOTS = REPO / "var" / "screenshots"


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("accounts")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'accounts.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        # localhost, not 127.0.0.1: a WebAuthn relying-party id is a domain, never an address.
        TOKEND_ISSUER=f"http://localhost:{port}",
        TOKEND_MODULES="oidc",
    )
    migrate(env)
    rp = cli(env, "clients", "create", "--name", "Orders App",
              "--grant", "authorization_code", "--grant", "refresh_token",
              "--redirect-uri", CALLBACK,
              "--scope", "openid profile email offline_access roles")  # fmt: skip
    secrets_seen.add(rp["client_secret"])
    cli(env, "users", "create", "--email", EMAIL, "--password", PASSWORD, "--verified",
         "--name", "Account Owner", "--role", "manager")  # fmt: skip
    cli(env, "users", "create", "--email", PASSKEY_EMAIL, "--password", PASSWORD, "--verified",
         "--name", "Passkey Owner")  # fmt: skip
    for email in CHOOSER_EMAILS:
        cli(env, "users", "create", "--email", email, "--password", PASSWORD, "--verified")
    cli(env, "users", "create", "--email", AUTOFILL_EMAIL, "--password", PASSWORD, "--verified",
         "--name", "Autofill Owner")  # fmt: skip
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server, {"rp_id": rp["client_id"], "rp_secret": rp["client_secret"]}
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def _sign_in_to_account(page: Page, base_url: str, email: str = EMAIL) -> None:
    page.goto(f"{base_url}/account")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/account")


def _authorize_url(base_url: str, client_id: str, **extra: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
        "scope": "openid offline_access roles", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
        **extra,
    }  # fmt: skip
    return f"{base_url}/authorize?{urlencode(query)}", verifier


def _app_sign_in(
    browser: Browser, server: Server, creds: dict[str, str], code: str, shot: str | None = None
) -> dict[str, Any]:
    """Sign in to the app in a new browser with the password and ``code``; its tokens."""
    context = browser.new_context(user_agent="SecondBrowser/2.0 (e2e)")
    page = context.new_page()
    callback: list[str] = []

    def catch(route: Route) -> None:
        callback.append(route.request.url)
        route.fulfill(status=200, body="ok")

    page.route("http://127.0.0.1:9/**", catch)
    url, verifier = _authorize_url(server.base_url, creds["rp_id"])
    page.goto(url)
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Two-step verification").wait_for()
    if shot:
        page.screenshot(path=str(SCREENSHOTS / shot))
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    # On to the consent page (the first time) or straight back to the app (caught above).
    allow = page.get_by_role("button", name="Allow")
    for _ in range(300):
        if callback:
            break
        if allow.count():
            allow.click()
        page.wait_for_timeout(50)
    context.close()
    assert len(callback) == 1
    return _redeem(server, creds, callback[0], verifier)


def _redeem(server: Server, creds: dict[str, str], callback: str, verifier: str) -> dict[str, Any]:
    """The tokens for the code the app's callback got (``callback``: its URL)."""
    code = parse_qs(urlsplit(callback).query)["code"][0]
    tokens = httpx.post(
        f"{server.base_url}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
              "code_verifier": verifier},
        auth=(creds["rp_id"], creds["rp_secret"]),
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def test_totp_recovery_codes_sessions_and_apps_in_a_real_browser(
    provider: tuple[Server, dict[str, str]], secrets_seen: SecretsSeen
) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, creds = provider
    base = server.base_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        owner = browser.new_context(user_agent="OwnerBrowser/1.0 (e2e)").new_page()
        _sign_in_to_account(owner, base)
        owner.screenshot(path=str(SCREENSHOTS / "account-profile.png"))

        # Turn on two-step verification: the QR code's key, a code computed here.
        owner.get_by_role("link", name="Security").click()
        owner.get_by_role("button", name="Set up an authenticator app").click()
        seed = secrets_seen.add(owner.locator("#totp-seed").inner_text().strip())
        owner.screenshot(path=str(SCREENSHOTS / "account-totp-enrol.png"))
        totp = pyotp.TOTP(seed)
        enrolled_at = time.time()
        owner.get_by_label("Code from the app").fill(totp.at(enrolled_at))
        owner.get_by_role("button", name="Turn on").click()
        codes = owner.get_by_role("list", name="Recovery codes").locator("li").all_inner_texts()
        assert len(codes) == 10
        for code in codes:
            secrets_seen.add(code)
        assert "Recovery codes left" in owner.content()

        # The next sign-in to an app asks for a code: a recovery code works once.
        tokens = _app_sign_in(browser, server, creds, codes[0], "account-second-factor.png")
        claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        assert claims["amr"] == ["mfa", "otp", "pwd"]
        assert claims["roles"] == ["manager"]
        reused = browser.new_context().new_page()  # the same recovery code again: refused
        url, _ = _authorize_url(base, creds["rp_id"])
        reused.goto(url)
        reused.get_by_label("Email address").fill(EMAIL)
        reused.get_by_label("Password").fill(PASSWORD)
        reused.get_by_role("button", name="Sign in").click()
        reused.get_by_label("Code").fill(codes[0])
        reused.get_by_role("button", name="Verify").click()
        assert "not correct" in reused.get_by_role("alert").inner_text()
        reused.context.close()
        # A TOTP code (of the next step: the enrolment used this one) signs in too.
        _app_sign_in(browser, server, creds, totp.at(enrolled_at + 30))

        # Sessions: the other browser's is listed and ended from here.
        owner.get_by_role("link", name="Sessions").click()
        sessions = owner.get_by_role("list", name="Sessions")
        assert "SecondBrowser/2.0" in sessions.inner_text()
        assert "(this browser)" in sessions.inner_text()
        owner.screenshot(path=str(SCREENSHOTS / "account-sessions.png"))
        before = sessions.locator("li").count()
        owner.get_by_role("button", name="Sign out SecondBrowser/2.0").first.click()
        owner.get_by_text("The session was signed out.").wait_for()
        assert owner.get_by_role("list", name="Sessions").locator("li").count() == before - 1

        # Apps with access: removing it revokes its tokens.
        owner.get_by_role("link", name="Apps with access").click()
        assert "Orders App" in owner.get_by_role("list", name="Apps with access").inner_text()
        owner.screenshot(path=str(SCREENSHOTS / "account-apps.png"))
        active = _introspect(server, creds, tokens["access_token"])
        assert active["active"] is True
        owner.get_by_role("button", name="Remove access of Orders App").click()
        owner.get_by_text("No app has access to your account.").wait_for()
        assert _introspect(server, creds, tokens["access_token"]) == {"active": False}
        assert _introspect(server, creds, tokens["refresh_token"]) == {"active": False}
        browser.close()


def test_a_passkey_is_added_and_signs_in_alone(provider: tuple[Server, dict[str, str]]) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, creds = provider
    # The issuer's origin: WebAuthn checks it (an assertion made at 127.0.0.1 is refused).
    base = server.base_url.replace("127.0.0.1", "localhost")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        page.add_init_script(WITHOUT_AUTOFILL)  # the button's path (autofill: the next test)
        # Chromium's virtual authenticator (DevTools protocol): a platform authenticator
        # with resident keys and user verification, as a phone or laptop has.
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        authenticator = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                         "hasUserVerification": True, "isUserVerified": True}},
        )  # fmt: skip
        _sign_in_to_account(page, base, PASSKEY_EMAIL)
        page.get_by_role("link", name="Security").click()
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_label("Name of this passkey").fill("Work laptop")
        page.get_by_role("button", name="Create passkey").click()
        page.get_by_text("Your passkey was added.").wait_for()
        listed = page.get_by_role("list", name="Passkeys").inner_text()
        assert "Work laptop" in listed
        assert "never used" in listed
        stored = cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": authenticator["authenticatorId"]}
        )
        assert len(stored["credentials"]) == 1
        assert stored["credentials"][0]["isResidentCredential"] is True

        # Sign out, then sign in with the passkey alone: no email, no password.
        page.get_by_role("button", name="Sign out").last.click()
        page.get_by_text("You are signed out").wait_for()
        page.goto(f"{base}/account")
        page.screenshot(path=str(SCREENSHOTS / "account-sign-in.png"))
        page.get_by_role("button", name="Use a passkey instead").click()
        page.wait_for_url(f"{base}/account")
        page.get_by_role("link", name="Security").click()
        assert "last used" in page.get_by_role("list", name="Passkeys").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "account-passkeys.png"), full_page=True)

        # The session carries the passkey's methods into an app's ID token.
        callback: list[str] = []

        def catch(route: Route) -> None:
            callback.append(route.request.url)
            route.fulfill(status=200, body="ok")

        page.route("http://127.0.0.1:9/**", catch)
        url, verifier = _authorize_url(base, creds["rp_id"])
        page.goto(url)
        allow = page.get_by_role("button", name="Allow")
        for _ in range(300):
            if callback:
                break
            if allow.count():
                allow.click()
            page.wait_for_timeout(50)
        page.wait_for_url("http://127.0.0.1:9/**")  # loaded: the goto below would interrupt it
        code = parse_qs(urlsplit(callback[0]).query)["code"][0]
        tokens = httpx.post(
            f"{base}/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                  "code_verifier": verifier},
            auth=(creds["rp_id"], creds["rp_secret"]),
        )  # fmt: skip
        claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
        assert claims["amr"] == ["hwk", "mfa", "user"]

        # Removed, it no longer signs in.
        page.goto(f"{base}/account/security")
        page.get_by_role("button", name="Remove passkey Work laptop").click()
        page.get_by_text("The passkey was removed.").wait_for()
        page.get_by_role("button", name="Sign out").last.click()
        page.goto(f"{base}/account")
        page.get_by_role("button", name="Use a passkey instead").click()
        assert "could not sign you in" in page.get_by_role("alert").inner_text()
        browser.close()


def _introspect(server: Server, creds: dict[str, str], token: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.base_url}/introspect", data={"token": token},
        auth=(creds["rp_id"], creds["rp_secret"]),
    )  # fmt: skip
    body: dict[str, Any] = answer.json()
    return body


def test_the_account_chooser_offers_both_accounts_and_works_from_the_keyboard(
    provider: tuple[Server, dict[str, str]],
) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, creds = provider
    first, second = CHOOSER_EMAILS
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        callback: list[str] = []

        def catch(route: Route) -> None:
            callback.append(route.request.url)
            route.fulfill(status=200, body="ok")

        page.route("http://127.0.0.1:9/**", catch)

        def back_to_the_app() -> None:
            for _ in range(300):
                if callback:
                    # The navigation ends after the route answered: the next goto would
                    # interrupt it (seen under load).
                    page.wait_for_url("http://127.0.0.1:9/**")
                    return
                page.wait_for_timeout(50)

        scope = "openid email offline_access"
        for email in (first, second):  # both sign in on this browser, the second one last
            page.goto(
                _authorize_url(server.base_url, creds["rp_id"], prompt="login", scope=scope)[0]
            )
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            back_to_the_app()
            assert len(callback) == 1
            callback.clear()
        url, verifier = _authorize_url(
            server.base_url, creds["rp_id"], prompt="select_account", scope=scope
        )
        page.goto(url)
        page.get_by_role("heading", name="Choose an account").wait_for()
        accounts = page.get_by_role("list", name="Accounts signed in on this browser")
        assert accounts.locator("li").all_inner_texts()[0].startswith(second)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "account-select-account.png"))
        # The current account has the focus; Tab moves to the other one, Enter chooses it.
        assert page.evaluate("document.activeElement.textContent").strip() == second
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent").strip() == first
        page.keyboard.press("Enter")
        back_to_the_app()
        browser.close()
    assert len(callback) == 1
    tokens = _redeem(server, creds, callback[0], verifier)
    userinfo = httpx.get(
        f"{server.base_url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.json()["email"] == first


def test_a_passkey_in_the_username_autofill_signs_in_with_no_button_pressed(
    provider: tuple[Server, dict[str, str]],
) -> None:
    """WebAuthn L3 conditional mediation: the login page asks for a passkey as it loads
    (``mediation: "conditional"``, a fresh challenge); Chromium's virtual authenticator, which
    simulates the user's presence, answers as a user picking the passkey from the username
    field's autofill would, and the page signs in through the passkey endpoint."""
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, _ = provider
    base = server.base_url.replace("127.0.0.1", "localhost")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                         "hasUserVerification": True, "isUserVerified": True,
                         "automaticPresenceSimulation": True}},
        )  # fmt: skip
        _sign_in_to_account(page, base, AUTOFILL_EMAIL)
        page.get_by_role("link", name="Security").click()
        page.get_by_role("button", name="Add a passkey").click()
        page.get_by_label("Name of this passkey").fill("Phone")
        page.get_by_role("button", name="Create passkey").click()
        page.get_by_text("Your passkey was added.").wait_for()
        page.get_by_role("button", name="Sign out").last.click()
        page.get_by_text("You are signed out").wait_for()

        options_requests: list[str] = []
        page.on(
            "request",
            lambda r: (
                options_requests.append(r.url) if r.url.endswith("/passkey/options") else None
            ),
        )
        passkey_posts: list[str] = []
        page.on(
            "request",
            lambda r: (
                passkey_posts.append(r.url)
                if r.method == "POST" and r.url.endswith("/passkey")
                else None
            ),
        )
        page.goto(f"{base}/account")
        # Nothing typed, no button pressed: the conditional request signs in.
        page.wait_for_url(f"{base}/account")
        assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()") is True
        assert len(options_requests) == 1  # a fresh challenge, fetched by the page
        assert len(passkey_posts) == 1  # the button's own endpoint
        page.get_by_role("link", name="Security").click()
        listed = page.get_by_role("list", name="Passkeys").inner_text()
        assert "Phone" in listed
        assert "last used" in listed
        browser.close()
