"""The OpenID provider against real clients, through a real ``tokend serve`` process:

* openid-client (npm, unmodified, installed into ``var/npm-oidc``) drives discovery, the code
  flow with PKCE, token exchange with ID token validation, userinfo, refresh, revocation and
  introspection, while headless Chromium (Playwright) signs in and consents on the real pages;
* httpx does the same for client_credentials, and the tokens verify with PyJWT and the JWKS.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, migrate, start, tokend_env
from tests.e2e.server import tokend_json as cli
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

NPM_DIR = REPO / "var" / "npm-oidc"
RP_SCRIPT = Path(__file__).with_name("test_oidc_rp.mjs")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e password 4 the flow"
SCREENSHOTS = REPO / "var" / "screenshots"


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("oidc")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'oidc.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
    )
    migrate(env)
    rp = cli(env, "clients", "create", "--name", "openid-client RP",
              "--grant", "authorization_code", "--grant", "refresh_token",
              "--redirect-uri", "http://127.0.0.1:9/cb",
              "--scope", "openid profile email offline_access")  # fmt: skip
    svc = cli(env, "clients", "create", "--name", "Service", "--grant", "client_credentials",
               "--scope", "api:read", "--audience", "https://api.example")  # fmt: skip
    for created in (rp, svc):
        secrets_seen.add(created["client_secret"])
    cli(env, "users", "create", "--email", "e2e@example.org", "--password", PASSWORD,
         "--verified", "--name", "End To-End")  # fmt: skip
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server, {
            "rp_id": rp["client_id"], "rp_secret": rp["client_secret"],
            "svc_id": svc["client_id"], "svc_secret": svc["client_secret"],
        }  # fmt: skip
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def _install_openid_client() -> None:
    if (NPM_DIR / "node_modules" / "openid-client").is_dir():
        return
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    (NPM_DIR / "package.json").write_text('{"private": true}\n', encoding="utf-8")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "openid-client@6"],
        cwd=NPM_DIR, check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def test_openid_client_drives_the_code_flow_in_a_real_browser(
    provider: tuple[Server, dict[str, str]],
) -> None:
    if CHROMIUM is None or shutil.which("node") is None:
        pytest.fail("chromium and node are needed for this test (apt-get install chromium)")
    from playwright.sync_api import Route, sync_playwright

    server, creds = provider
    _install_openid_client()
    # ES modules resolve packages from the script's folder: run a copy beside node_modules.
    script = NPM_DIR / RP_SCRIPT.name
    shutil.copyfile(RP_SCRIPT, script)
    rp = subprocess.Popen(
        ["node", str(script), server.base_url, creds["rp_id"], creds["rp_secret"],
         "http://127.0.0.1:9/cb"],
        cwd=NPM_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert rp.stdout is not None
    assert rp.stdin is not None
    first = json.loads(rp.stdout.readline() or "{}")
    assert first.get("step") == "authorize", rp.stderr.read() if rp.stderr else ""
    callback: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()

        def catch(route: Route) -> None:
            callback.append(route.request.url)
            route.fulfill(status=200, body="signed in")

        page.route("http://127.0.0.1:9/**", catch)
        page.goto(first["url"])
        page.get_by_label("Email address").fill("e2e@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.screenshot(path=str(SCREENSHOTS / "login.png"))
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow").wait_for()
        page.screenshot(path=str(SCREENSHOTS / "consent.png"))
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url("http://127.0.0.1:9/**")
        page.goto(f"{server.base_url}/authorize?client_id=nope")
        page.screenshot(path=str(SCREENSHOTS / "error.png"))
        browser.close()
    assert len(callback) == 1
    rp.stdin.write(callback[0] + "\n")
    rp.stdin.flush()
    output, errors = rp.communicate(timeout=60)
    assert rp.returncode == 0, errors
    result = json.loads(output.strip().splitlines()[-1])
    assert result["claims"]["aud"] == creds["rp_id"]
    assert result["claims"]["has_at_hash"] is True
    assert result["userinfo"]["email"] == "e2e@example.org"
    assert result["userinfo"]["name"] == "End To-End"
    assert result["rotated"] is True
    assert result["introspection"]["active"] is False


def test_python_client_credentials_tokens_verify_against_the_jwks_alone(
    provider: tuple[Server, dict[str, str]],
) -> None:
    server, creds = provider
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        metadata = http.get("/.well-known/openid-configuration").json()
        response = http.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": "api:read"},
            auth=(creds["svc_id"], creds["svc_secret"]),
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        jwks = jwt.PyJWKClient(metadata["jwks_uri"])
        claims = jwt.decode(
            token,
            jwks.get_signing_key_from_jwt(token).key,
            algorithms=["ES256"],
            audience="https://api.example",
            issuer=metadata["issuer"],
        )
        assert claims["client_id"] == creds["svc_id"]
        info = http.post(
            metadata["introspection_endpoint"],
            data={"token": token},
            auth=(creds["svc_id"], creds["svc_secret"]),
        ).json()
        assert info["active"] is True
        http.post(
            metadata["revocation_endpoint"],
            data={"token": token},
            auth=(creds["svc_id"], creds["svc_secret"]),
        )
        info = http.post(
            metadata["introspection_endpoint"],
            data={"token": token},
            auth=(creds["svc_id"], creds["svc_secret"]),
        ).json()
        assert info == {"active": False}


def test_demo_relying_party_signs_in_with_the_banner_credentials(
    tmp_path: Path, secrets_seen: SecretsSeen
) -> None:
    if CHROMIUM is None:
        pytest.fail("chromium is needed for this test (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = free_port()
    log_path = tmp_path / "demo.log"
    secrets_seen.add_log_file(log_path)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        TOKEND_MODULES="oidc",
    )
    server = start([*TOKEND, "serve", "--demo", "--port", str(port)], env, port, log_path)
    try:
        banner = next(line for line in server.log().splitlines() if "oidc demo user" in line)
        email, password = banner.split("oidc demo user")[1].split(" / ")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page()
            page.goto(f"{server.base_url}/demo")
            page.get_by_role("button", name="Sign in with tokend").click()
            page.get_by_label("Email address").fill(email.strip())
            page.get_by_label("Password").fill(password.strip())
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.get_by_role("heading", name="ID token").wait_for()
            text = page.content()
            page.screenshot(path=str(SCREENSHOTS / "demo.png"), full_page=True)
            browser.close()
        assert '"typ": "at+jwt"' in text
        assert "demo-web" in text
    finally:
        assert server.stop() == 0
