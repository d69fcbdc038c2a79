"""Identity brokering across two real ``tokend serve`` processes: server B is the upstream
OpenID provider (a client registered for A, a user with a password), server A lists B in
``TOKEND_OIDC__UPSTREAMS``. Headless Chromium (Playwright) starts at A's /authorize, clicks
"Sign in with Tokend B", signs in and consents at B, comes back through A's callback (discovery,
code exchange with PKCE, ID token checked on B's JWKS, the address from B's UserInfo), consents at
A, and the RP gets tokens at A for the account A created for B's user.

A is on 127.0.0.1 and B on localhost: a browser keeps one cookie jar per host, not per port, and
both set ``tokend_session``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.secrets_seen import SecretsSeen
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

if TYPE_CHECKING:
    from playwright.sync_api import Route

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e upstream password 7"
EMAIL = "brokered.e2e@example.org"
#: B's user who signs in through the upstream added by the admin API (an account of its own at A).
API_EMAIL = "brokered.api.e2e@example.org"
CALLBACK = "http://127.0.0.1:9/cb"


ADMIN_TOKEN = "e2e-upstream-admin-" + secrets.token_hex(16)
SCREENSHOTS = REPO / "var" / "screenshots"


@dataclass
class Pair:
    a: Server
    b_url: str
    rp_id: str
    rp_secret: str
    #: A second client of A's at B, for an upstream added through A's admin API.
    api_client: tuple[str, str]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("upstream")
    port_a, port_b = free_port(), free_port()
    a_url, b_url = f"http://127.0.0.1:{port_a}", f"http://localhost:{port_b}"
    secrets_seen.add(PASSWORD)
    env_b = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'b.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=b_url,
        TOKEND_MODULES="oidc",
    )
    migrate(env_b)
    for_a = cli(env_b, "clients", "create", "--name", "Tokend A",
                "--grant", "authorization_code", "--redirect-uri", f"{a_url}/upstream/b/callback",
                "--scope", "openid email profile")  # fmt: skip
    secrets_seen.add(for_a["client_secret"])
    for_api = cli(env_b, "clients", "create", "--name", "Tokend A (admin API)",
                  "--grant", "authorization_code",
                  "--redirect-uri", f"{a_url}/upstream/b-api/callback",
                  "--scope", "openid email profile")  # fmt: skip
    secrets_seen.add(for_api["client_secret"])
    secrets_seen.add(ADMIN_TOKEN)
    cli(env_b, "users", "create", "--email", EMAIL, "--password", PASSWORD, "--verified",
        "--name", "Brokered User")  # fmt: skip
    cli(env_b, "users", "create", "--email", API_EMAIL, "--password", PASSWORD, "--verified",
        "--name", "Brokered API User")  # fmt: skip
    b = {"id": "b", "name": "Tokend B", "issuer": b_url}
    upstreams = [{**b, "client_id": for_a["client_id"], "client_secret": for_a["client_secret"]}]
    env_a = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'a.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=a_url,
        TOKEND_MODULES="oidc",
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # B runs on loopback
        TOKEND_OIDC__UPSTREAMS=json.dumps(upstreams),
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    migrate(env_a)
    rp = cli(env_a, "clients", "create", "--name", "Orders App", "--grant", "authorization_code",
             "--redirect-uri", CALLBACK, "--scope", "openid email profile")  # fmt: skip
    secrets_seen.add(rp["client_secret"])
    logs = tmp / "b.log", tmp / "a.log"
    for log_path in logs:
        secrets_seen.add_log_file(log_path)
    server_b = start([*TOKEND, "serve", "--port", str(port_b)], env_b, port_b, logs[0])
    try:
        server_a = start([*TOKEND, "serve", "--port", str(port_a)], env_a, port_a, logs[1])
        try:
            yield Pair(
                server_a, b_url, rp["client_id"], rp["client_secret"],
                (for_api["client_id"], for_api["client_secret"]),
            )  # fmt: skip
        finally:
            assert server_a.stop() == 0
    finally:
        assert server_b.stop() == 0
    for log_path in logs:
        assert "Traceback" not in log_path.read_text(encoding="utf-8", errors="replace")


def test_signing_in_at_a_with_b_as_the_upstream_gives_tokens_at_a(servers: Pair) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    a = servers.a.base_url
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code", "client_id": servers.rp_id, "redirect_uri": CALLBACK,
        "scope": "openid email profile", "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    callback: list[str] = []

    def catch(route: Route) -> None:
        callback.append(route.request.url)
        route.fulfill(status=200, body="ok")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        page.route("http://127.0.0.1:9/**", catch)
        page.goto(f"{a}/authorize?{urlencode(query)}")
        page.get_by_role("button", name="Sign in with Tokend B").click()
        page.wait_for_url(f"{servers.b_url}/interaction/*")  # at B now
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow").click()  # B: A may know who the user is
        page.wait_for_url(f"{a}/interaction/*")  # back at A, signed in: its own consent
        assert "Tokend B" not in page.content()
        page.get_by_role("button", name="Allow").click()
        for _ in range(50):
            if callback:
                break
            page.wait_for_timeout(100)
        # The account pages at A show the link B's sign-in made (the README's screenshot),
        # once the app's callback has loaded (a goto would interrupt it).
        page.wait_for_url("http://127.0.0.1:9/**")
        page.goto(f"{a}/account/linked")
        page.get_by_role("heading", name="Linked accounts").wait_for()
        shown = page.get_by_role("listitem").filter(has_text="Tokend B").inner_text()
        assert shown.splitlines()[1].startswith(f"linked as {EMAIL} on ")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "account-linked.png"))
        browser.close()
    assert len(callback) == 1, callback
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callback[0]).query).items()}
    assert answer["state"] == query["state"]
    with httpx.Client(base_url=a, timeout=10.0) as http:
        tokens = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": answer["code"],
                  "redirect_uri": CALLBACK, "code_verifier": verifier},
            auth=(servers.rp_id, servers.rp_secret),
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        jwks = jwt.PyJWKClient(f"{a}/.well-known/jwks.json")
        key = jwks.get_signing_key_from_jwt(body["id_token"]).key
        claims = jwt.decode(
            body["id_token"], key, algorithms=["RS256", "ES256"], audience=servers.rp_id, issuer=a
        )
        userinfo = http.get(
            "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
        ).json()
    # A made an account for B's user: its own subject, B's address (verified at B), and the
    # RFC 8176 methods B said the user signed in with.
    assert claims["nonce"] == query["nonce"]
    assert claims["sub"].startswith("u_")
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == EMAIL
    assert userinfo["email_verified"] is True
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:tokend:acr:password"
    assert "auth.upstream_signed_in" in servers.a.log()


def test_an_upstream_added_through_the_admin_api_signs_in_beside_the_settings_one(
    servers: Pair,
) -> None:
    """The admin API stores an upstream (A fetches B's discovery document through its guarded
    client first); A's login page offers it next to the settings' one, and its callback signs
    in. The login page is the README's screenshot of both."""
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    a = servers.a.base_url
    client_id, client_secret = servers.api_client
    with httpx.Client(base_url=a, timeout=10.0) as http:
        created = http.post(
            "/admin/upstreams",
            json={"id": "b-api", "name": "Tokend B (admin API)", "issuer": servers.b_url,
                  "client_id": client_id, "client_secret": client_secret},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        assert client_secret not in created.text
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code", "client_id": servers.rp_id, "redirect_uri": CALLBACK,
        "scope": "openid email profile", "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
    }  # fmt: skip
    callback: list[str] = []

    def catch(route: Route) -> None:
        callback.append(route.request.url)
        route.fulfill(status=200, body="ok")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        page.route("http://127.0.0.1:9/**", catch)
        page.goto(f"{a}/authorize?{urlencode(query)}")
        page.get_by_role("button", name="Sign in with Tokend B", exact=True).wait_for()
        page.screenshot(path=str(SCREENSHOTS / "account-sign-in-upstreams.png"))
        page.get_by_role("button", name="Sign in with Tokend B (admin API)").click()
        page.wait_for_url(f"{servers.b_url}/interaction/*")
        page.get_by_label("Email address").fill(API_EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow").click()  # B: this client of A's may know
        allow = page.get_by_role("button", name="Allow")
        for _ in range(100):
            if callback:
                break
            if page.url.startswith(f"{a}/interaction/") and allow.count():
                allow.click()
            page.wait_for_timeout(100)
        browser.close()
    assert len(callback) == 1, callback
    code = parse_qs(urlsplit(callback[0]).query)["code"][0]
    with httpx.Client(base_url=a, timeout=10.0) as http:
        tokens = http.post(
            "/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                  "code_verifier": verifier},
            auth=(servers.rp_id, servers.rp_secret),
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        sub = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})["sub"]
        links = http.get(
            f"/admin/users/{sub}/upstream-links", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()
    assert "b-api" in [link["upstream_id"] for link in links]
