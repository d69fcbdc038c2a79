"""A single-page app in real Chromium completes the code flow with PKCE, a refresh and a
userinfo call against a real ``tokend serve`` on another origin: CORS lets its ``fetch`` read
the answers, and an origin the client did not register cannot."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "spa password for the cors flow"
#: The SPA: starts the code flow with PKCE, then on /cb redeems the code, refreshes and calls
#: userinfo with fetch; what it read (or the error fetch threw) ends up in #result.
SPA_PAGE = """<!doctype html><html><head><title>SPA</title></head><body><pre id="result"></pre>
<script type="module">
const issuer = ISSUER, clientId = CLIENT_ID, redirectUri = location.origin + "/cb";
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const show = (value) => { document.getElementById("result").textContent = JSON.stringify(value); };
async function token(form) {
  const body = new URLSearchParams(form);
  const response = await fetch(issuer + "/token", { method: "POST", body });
  return { status: response.status, body: await response.json() };
}
if (location.pathname === "/start") {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  sessionStorage.setItem("verifier", verifier);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const challenge = b64url(digest);
  location.href = issuer + "/authorize?" + new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri,
    scope: "openid offline_access", state: "s1", code_challenge: challenge,
    code_challenge_method: "S256" });
} else if (location.pathname === "/cb") {
  try {
    const code = new URLSearchParams(location.search).get("code");
    const first = await token({ grant_type: "authorization_code", code, client_id: clientId,
      redirect_uri: redirectUri, code_verifier: sessionStorage.getItem("verifier") });
    const second = await token({ grant_type: "refresh_token", client_id: clientId,
      refresh_token: first.body.refresh_token });
    const userinfo = await fetch(issuer + "/userinfo",
      { headers: { Authorization: "Bearer " + second.body.access_token } });
    show({ first: first.status, second: second.status, rotated:
      second.body.refresh_token !== first.body.refresh_token, userinfo: await userinfo.json() });
  } catch (error) { show({ error: String(error) }); }
} else if (location.pathname === "/foreign") {
  try { await token({ grant_type: "refresh_token", client_id: clientId, refresh_token: "x" });
    show({ read: true }); } catch (error) { show({ error: String(error) }); }
}
</script></body></html>"""


@contextmanager
def spa_server(port: int, page_html: str) -> Iterator[str]:
    """A static server on loopback answering every GET with the SPA page; its origin."""
    body = page_html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, str, str]]:
    tmp = tmp_path_factory.mktemp("spa")
    port, spa_port = free_port(), free_port()
    spa_origin = f"http://127.0.0.1:{spa_port}"
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'spa.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
    )
    migrate(env)
    spa = cli(env, "clients", "create", "--name", "Browser SPA", "--public",
               "--grant", "authorization_code", "--grant", "refresh_token",
               "--redirect-uri", f"{spa_origin}/cb", "--scope", "openid offline_access",
               "--web-origin", "+")  # fmt: skip
    cli(env, "users", "create", "--email", "spa@example.org", "--password", PASSWORD,
         "--verified")  # fmt: skip
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server, spa["client_id"], spa_origin
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_a_spa_completes_code_pkce_refresh_and_userinfo_across_origins(
    provider: tuple[Server, str, str],
) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, client_id, spa_origin = provider
    page_html = SPA_PAGE.replace("ISSUER", json.dumps(server.base_url)).replace(
        "CLIENT_ID", json.dumps(client_id)
    )
    with (
        spa_server(int(spa_origin.rsplit(":", 1)[1]), page_html),
        spa_server(free_port(), page_html) as foreign_origin,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{spa_origin}/start")
            page.get_by_label("Email address").fill("spa@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{spa_origin}/cb**")
            page.wait_for_function("document.getElementById('result').textContent !== ''")
            result = json.loads(page.text_content("#result") or "{}")
            assert result.get("first") == 200, result
            assert result["second"] == 200
            assert result["rotated"] is True
            assert result["userinfo"]["sub"].startswith("u_")
            # Another origin runs the same code: the browser will not let it read the answer.
            page.goto(f"{foreign_origin}/foreign")
            page.wait_for_function("document.getElementById('result').textContent !== ''")
            refused = json.loads(page.text_content("#result") or "{}")
            assert "Failed to fetch" in refused.get("error", ""), refused
        finally:
            browser.close()
