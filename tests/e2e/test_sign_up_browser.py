"""Self sign-up in a real browser against a real ``tokend serve`` that mails through SMTP
(aiosmtpd here): headless Chromium (Playwright) starts signing in to an app, follows "Create an
account", opens the verification link from the mail that arrived, goes back to the sign-in it
started from, signs in with the new password and lands at the app with a verified address."""

from __future__ import annotations

import base64
import email
import hashlib
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from email.message import Message
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.secrets_seen import SecretsSeen

if TYPE_CHECKING:
    from playwright.sync_api import Route

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e sign-up password " + secrets.token_hex(4)
SCREENSHOTS = REPO / "var" / "screenshots"
CALLBACK = "http://127.0.0.1:9/cb"


class Mailbox:
    """The SMTP server's messages, as they arrive (the server runs in its own thread)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._arrived = threading.Semaphore(0)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content))
        self._arrived.release()
        return "250 OK"

    def wait(self) -> Message:
        assert self._arrived.acquire(timeout=15), "no mail arrived"
        return self.messages[-1]


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, Mailbox, str]]:
    tmp = tmp_path_factory.mktemp("sign-up")
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'sign-up.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
        TOKEND_OIDC__ACCOUNTS__SELF_SIGN_UP="true",
        TOKEND_OIDC__EMAIL__BACKEND="smtp",
        TOKEND_OIDC__EMAIL__SMTP_HOST="127.0.0.1",
        TOKEND_OIDC__EMAIL__SMTP_PORT=str(smtp_port),
        TOKEND_OIDC__EMAIL__SMTP_STARTTLS="false",
    )
    migrate(env)
    rp = cli(env, "clients", "create", "--name", "Shop App",
              "--grant", "authorization_code", "--redirect-uri", CALLBACK,
              "--scope", "openid profile email")  # fmt: skip
    secrets_seen.add(rp["client_secret"])
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server, mailbox, rp["client_id"] + " " + rp["client_secret"]
    finally:
        assert server.stop() == 0
        smtp.stop()
    assert "Traceback" not in server.log()


def test_a_visitor_signs_up_verifies_from_the_mail_and_signs_in_to_the_app(
    provider: tuple[Server, Mailbox, str], secrets_seen: SecretsSeen
) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, mailbox, creds = provider
    client_id, client_secret = creds.split(" ")
    base = server.base_url
    address = f"visitor.{secrets.token_hex(3)}@example.org"
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
        "scope": "openid email profile", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        callback: list[str] = []

        def catch(route: Route) -> None:
            callback.append(route.request.url)
            route.fulfill(status=200, body="ok")

        page.route("http://127.0.0.1:9/**", catch)
        page.goto(f"{base}/authorize?{urlencode(query)}")
        page.get_by_role("link", name="Create an account").click()
        page.get_by_role("heading", name="Create an account").wait_for()
        page.get_by_label("Email address").fill(address)
        page.get_by_label("Full name").fill("Visitor V")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "account-sign-up.png"))  # the README's
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()

        mail = mailbox.wait()
        assert mail["To"] == address
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        link = re.search(rf"{re.escape(base)}/email/verify/confirm\?token=(\S+)", body.decode())
        assert link is not None, body.decode()
        secrets_seen.add(link.group(1))
        inbox_tab = page.context.new_page()  # the mail is read in another tab
        inbox_tab.goto(link.group(0))
        inbox_tab.get_by_role("heading", name="Email verified").wait_for()
        inbox_tab.close()

        page.get_by_role("link", name="Then continue signing in").click()
        page.get_by_label("Email address").fill(address)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow").click()
        for _ in range(200):
            if callback:
                break
            page.wait_for_timeout(50)
        browser.close()
    assert len(callback) == 1
    code = parse_qs(urlsplit(callback[0]).query)["code"][0]
    tokens = httpx.post(
        f"{base}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
              "code_verifier": verifier},
        auth=(client_id, client_secret),
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    access_token = secrets_seen.add(tokens.json()["access_token"])
    subject = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})["sub"]
    # OIDC Core §5.4: with an access token, the scopes' claims come from userinfo.
    userinfo = httpx.get(f"{base}/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert userinfo.status_code == 200, userinfo.text
    claims = userinfo.json()
    assert claims["sub"] == subject
    assert claims["email"] == address
    assert claims["email_verified"] is True
    assert claims["name"] == "Visitor V"
