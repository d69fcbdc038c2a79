"""Interop: the unmodified openid-client 6 (npm) registers itself at a real ``tokend serve``
(RFC 7591, with an initial access token), runs the device flow (RFC 8628) while headless
Chromium approves the user code on the provider's pages, and an agent client exchanges the
device's token for a delegated one (RFC 8693); and a CIBA client (CIBA Core 1.0, poll mode)
authenticates a user whose device app (a signed webhook on loopback) approves."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.e2e.test_oidc_flow import NPM_DIR, _install_openid_client
from tests.secrets_seen import SecretsSeen
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

pytestmark = pytest.mark.e2e

RP_SCRIPT = Path(__file__).with_name("test_oidc_modern_rp.mjs")
MCP_SCRIPT = Path(__file__).with_name("test_oidc_mcp_rp.mjs")
CIBA_SCRIPT = Path(__file__).with_name("test_oidc_ciba_rp.mjs")
CIBA = "urn:openid:params:grant-type:ciba"
WEBHOOK_SECRET = "ciba-e2e-webhook-" + secrets.token_hex(16)
MCP_RESOURCE = "https://mcp.example/mcp"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "device flow e2e password"
ADMIN_TOKEN = "modern-admin-" + secrets.token_hex(16)
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


class DeviceApp:
    """The user's authentication device app: a loopback webhook receiver (CIBA)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, bytes]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                app.events.append((self.headers.get("Tokend-Signature", ""), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/device"

    def next_event(self, timeout_s: float = 20.0) -> tuple[str, bytes]:
        deadline = time.monotonic() + timeout_s
        while not self.events:
            assert time.monotonic() < deadline, "the device webhook was never called"
            time.sleep(0.05)
        return self.events.pop(0)


@pytest.fixture(scope="module")
def device_app() -> Iterator[DeviceApp]:
    app = DeviceApp()
    thread = threading.Thread(target=app.httpd.serve_forever, daemon=True)
    thread.start()
    yield app
    app.httpd.shutdown()
    app.httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen, device_app: DeviceApp
) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("modern")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    secrets_seen.add(ADMIN_TOKEN)
    secrets_seen.add(WEBHOOK_SECRET)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'modern.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        TOKEND_OIDC__REGISTRATION__ENABLED="true",
        TOKEND_OIDC__DEVICE__INTERVAL_S="1",
        TOKEND_OIDC__REGISTRATION__AUDIENCES=json.dumps([MCP_RESOURCE]),
        TOKEND_OIDC__CIBA__INTERVAL_S="1",
        TOKEND_OIDC__CIBA__DEVICE_WEBHOOK_URL=device_app.url,
        TOKEND_OIDC__CIBA__DEVICE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the device app runs on loopback
    )
    migrate(env)
    cli(env, "users", "create", "--email", "device@example.org", "--password", PASSWORD,
         "--verified")  # fmt: skip
    initial = cli(env, "clients", "initial-token", "create", "--expires", "1h", "--max-uses", "1")
    secrets_seen.add(initial["initial_access_token"])
    mcp = cli(env, "clients", "initial-token", "create", "--expires", "1h", "--max-uses", "1")
    secrets_seen.add(mcp["initial_access_token"])
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        agent = httpx.post(
            f"{server.base_url}/admin/clients",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "name": "Agent", "grant_types": ["client_credentials", EXCHANGE],
                "scope": "openid offline_access agent",
                "token_exchange": {
                    "subject_token_types": ["urn:ietf:params:oauth:token-type:access_token"],
                    "subject_clients": ["*"],
                },
            },
            timeout=10,
        ).json()  # fmt: skip
        secrets_seen.add(agent["client_secret"])
        ciba = httpx.post(
            f"{server.base_url}/admin/clients",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={"name": "CIBA kiosk", "grant_types": [CIBA, "refresh_token"],
                  "scope": "openid offline_access", "backchannel_token_delivery_mode": "poll"},
            timeout=10,
        ).json()  # fmt: skip
        secrets_seen.add(ciba["client_secret"])
        yield server, {
            "ciba_id": ciba["client_id"], "ciba_secret": ciba["client_secret"],
            "initial_token": initial["initial_access_token"],
            "mcp_token": mcp["initial_access_token"],
            "agent_id": agent["client_id"], "agent_secret": agent["client_secret"],
        }  # fmt: skip
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def test_openid_client_registers_runs_the_device_flow_and_exchanges_tokens(
    provider: tuple[Server, dict[str, str]],
) -> None:
    if CHROMIUM is None or shutil.which("node") is None:
        pytest.fail("chromium and node are needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server, creds = provider
    _install_openid_client()
    script = NPM_DIR / RP_SCRIPT.name
    shutil.copyfile(RP_SCRIPT, script)
    rp = subprocess.Popen(
        ["node", str(script), server.base_url, creds["initial_token"], creds["agent_id"],
         creds["agent_secret"]],
        cwd=NPM_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert rp.stdout is not None
    first = json.loads(rp.stdout.readline() or "{}")
    assert first.get("step") == "device", rp.stderr.read() if rp.stderr else ""
    assert first["verification_uri_complete"].startswith(f"{server.base_url}/device?user_code=")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(first["verification_uri_complete"])
            assert page.get_by_label("Code").input_value() == first["user_code"]
            page.get_by_role("button", name="Continue").click()
            page.get_by_label("Email address").fill("device@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.get_by_text("Device connected").wait_for()
        finally:
            browser.close()
    output, errors = rp.communicate(timeout=60)
    assert rp.returncode == 0, errors
    result = json.loads(output.strip().splitlines()[-1])
    assert result["registered"] == {"client_id": first["client_id"], "has_rat": True}
    assert result["device_tokens"]["has_refresh"] is True
    exchanged = result["exchanged"]
    assert exchanged["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert exchanged["claims"]["sub"] == result["device_tokens"]["sub"]
    assert exchanged["claims"]["act"] == {"sub": creds["agent_id"]}
    assert exchanged["claims"]["client_id"] == creds["agent_id"]


def test_the_mcp_authorization_flow_registers_then_runs_code_pkce_with_a_resource(
    provider: tuple[Server, dict[str, str]],
) -> None:
    if CHROMIUM is None or shutil.which("node") is None:
        pytest.fail("chromium and node are needed for this test (apt-get install chromium)")
    from playwright.sync_api import Route, sync_playwright

    server, creds = provider
    _install_openid_client()
    script = NPM_DIR / MCP_SCRIPT.name
    shutil.copyfile(MCP_SCRIPT, script)
    redirect = "http://127.0.0.1:9/cb"
    rp = subprocess.Popen(
        ["node", str(script), server.base_url, creds["mcp_token"], MCP_RESOURCE, redirect],
        cwd=NPM_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert rp.stdout is not None
    assert rp.stdin is not None
    first = json.loads(rp.stdout.readline() or "{}")
    assert first.get("step") == "authorize", rp.stderr.read() if rp.stderr else ""
    callback: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def catch(route: Route) -> None:
                callback.append(route.request.url)
                route.fulfill(status=200, body="signed in")

            page.route(f"{redirect}**", catch)
            page.goto(first["url"])
            page.get_by_label("Email address").fill("device@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{redirect}**")
        finally:
            browser.close()
    assert len(callback) == 1
    rp.stdin.write(callback[0] + "\n")
    rp.stdin.flush()
    output, errors = rp.communicate(timeout=60)
    assert rp.returncode == 0, errors
    result = json.loads(output.strip().splitlines()[-1])
    assert result["aud"] == MCP_RESOURCE
    assert result["sub"].startswith("u_")


def test_openid_client_runs_ciba_in_poll_mode_approved_by_the_device_app(
    provider: tuple[Server, dict[str, str]], device_app: DeviceApp, secrets_seen: SecretsSeen
) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is needed for this test")
    server, creds = provider
    _install_openid_client()
    script = NPM_DIR / CIBA_SCRIPT.name
    shutil.copyfile(CIBA_SCRIPT, script)
    rp = subprocess.Popen(
        ["node", str(script), server.base_url, creds["ciba_id"], creds["ciba_secret"],
         "device@example.org"],
        cwd=NPM_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert rp.stdout is not None
    first = json.loads(rp.stdout.readline() or "{}")
    assert first.get("step") == "started", rp.stderr.read() if rp.stderr else ""
    assert first["interval"] == 1
    signature, body = device_app.next_event()
    timestamp, mac = (part.split("=", 1)[1] for part in signature.split(","))
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(mac, expected)
    event = json.loads(body)
    secrets_seen.add(event["decision_token"])
    assert event["binding_message"] == "E2E 42"
    assert event["client_name"] == "CIBA kiosk"
    time.sleep(1.5)  # the client polls meanwhile: authorization_pending
    decided = httpx.post(
        event["decision_uri"],
        json={"decision_token": event["decision_token"], "approve": True},
        timeout=10,
    )
    assert decided.status_code == 204, decided.text
    output, errors = rp.communicate(timeout=60)
    assert rp.returncode == 0, errors
    result = json.loads(output.strip().splitlines()[-1])
    assert result["sub"] == event["user_id"]
    assert result["aud"] == creds["ciba_id"]
    assert result["has_refresh"] is True
