"""FAPI 2.0 interop: the unmodified openid-client (npm) drives a pushed authorization request,
private_key_jwt client authentication, PKCE, a JARM authorization response and DPoP against a
real ``tokend serve`` with the client on the FAPI 2.0 profile, while headless Chromium
(Playwright) signs in and consents on the provider's real pages; the JARM response, the ID token
and the access tokens verify with PyJWT against the JWKS, and the access tokens are bound to
openid-client's DPoP key (``cnf.jkt``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import (
    TOKEND,
    Server,
    free_port,
    migrate,
    start,
    tokend_env,
    tokend_json,
)
from tests.e2e.test_oidc_flow import NPM_DIR, _install_openid_client
from tests.secrets_seen import SecretsSeen

if TYPE_CHECKING:
    from playwright.sync_api import Response, Route

pytestmark = pytest.mark.e2e

RP_SCRIPT = Path(__file__).with_name("test_fapi_rp.mjs")
PASSWORD = "e2e password 4 the fapi flow"
ADMIN_TOKEN = "e2e-fapi-admin-" + TEST_SECRET_KEY[-16:]
CALLBACK = "http://127.0.0.1:9/cb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("fapi")
    port = free_port()
    log_path = tmp / "serve.log"
    secrets_seen.add_log_file(log_path)
    secrets_seen.add(PASSWORD)
    secrets_seen.add(ADMIN_TOKEN)
    env = tokend_env(
        TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp / 'fapi.db'}",
        TOKEND_SECRET_KEY=TEST_SECRET_KEY,
        TOKEND_ISSUER=f"http://127.0.0.1:{port}",
        TOKEND_MODULES="oidc",
        TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
        # FAPI 2.0 SP §5.4.1-1: the provider's own signatures too (a FAPI client is refused
        # on an RS256 provider).
        TOKEND_KEYS__ID_TOKEN_ALG="ES256",
    )
    migrate(env)
    tokend_json(env, "users", "create", "--email", "fapi@example.org", "--password", PASSWORD,
                "--verified")  # fmt: skip
    server = start([*TOKEND, "serve", "--port", str(port)], env, port, log_path)
    try:
        yield server
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()


def _register(server: Server, jwk: dict[str, Any]) -> str:
    response = httpx.post(
        f"{server.base_url}/admin/clients",
        json={"name": "openid-client FAPI RP", "grant_types": ["authorization_code",
              "refresh_token"], "redirect_uris": [CALLBACK], "scope": "openid offline_access",
              "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]},
              "fapi2_profile": True},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _sign_in_in_browser(authorize_url: str) -> str:
    """The user's part, in headless Chromium: the pushed request's URL, the real login and
    consent pages; the callback URL the provider redirected the browser to."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None
    callback: list[str] = []
    redirects: list[tuple[str, str, int, str]] = []

    def catch(route: Route) -> None:
        callback.append(route.request.url)
        route.fulfill(status=200, body="signed in")

    def seen(response: Response) -> None:
        if 300 <= response.status < 400:
            location = response.headers.get("location", "")
            redirects.append((response.request.method, response.url, response.status, location))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("response", seen)
            page.route(f"{CALLBACK}**", catch)
            page.goto(authorize_url)
            page.get_by_label("Email address").fill("fapi@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{CALLBACK}**")
        finally:
            browser.close()
    assert len(callback) == 1
    # The pushed request's URL answers 303 to the interaction; the consent form's POST answers
    # 303 to the client's redirect URI.
    method, url, status, location = redirects[0]
    assert (method, url, status) == ("GET", authorize_url, 303)
    assert location.startswith("/interaction/"), location
    method, url, status, location = redirects[-1]
    assert (method, status) == ("POST", 303)
    assert url.endswith("/consent"), url
    assert location == callback[0]
    return callback[0]


def _jarm_claims(server: Server, callback: str, client_id: str) -> dict[str, Any]:
    """JARM §2.3.1: the callback carries only ``response``, a JWT the provider signed for the
    client; its claims, checked against the JWKS (signature, ``iss``, ``aud``, ``exp``)."""
    query = parse_qs(urlsplit(callback).query)
    assert set(query) == {"response"}, query
    token = query["response"][0]
    header = jwt.get_unverified_header(token)
    assert header["alg"] in ("PS256", "ES256", "EdDSA")  # FAPI 2.0 SP §5.4.1-1
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{server.base_url}/.well-known/jwks.json").json())
    claims: dict[str, Any] = jwt.decode(
        token,
        keys[header["kid"]].key,
        algorithms=[header["alg"]],
        issuer=server.base_url,
        audience=client_id,
        options={"require": ["iss", "aud", "exp"]},
    )
    return claims


def test_openid_client_drives_par_jarm_and_dpop_while_a_browser_signs_in(provider: Server) -> None:
    if CHROMIUM is None or shutil.which("node") is None:
        pytest.fail("chromium and node are needed for this test (apt-get install chromium)")
    _install_openid_client()
    script = NPM_DIR / RP_SCRIPT.name
    shutil.copyfile(RP_SCRIPT, script)
    rp = subprocess.Popen(
        ["node", str(script), provider.base_url, CALLBACK],
        cwd=NPM_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert rp.stdout is not None
    assert rp.stdin is not None
    try:
        first = json.loads(rp.stdout.readline() or "{}")
        assert first.get("step") == "jwk", rp.stderr.read() if rp.stderr else ""
        client_id = _register(provider, first["jwk"])
        rp.stdin.write(client_id + "\n")
        rp.stdin.flush()
        second = json.loads(rp.stdout.readline() or "{}")
        assert second.get("step") == "authorize", rp.stderr.read() if rp.stderr else ""
        assert "request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A" in second["url"]
        callback = _sign_in_in_browser(second["url"])
        jarm = _jarm_claims(provider, callback, client_id)
        assert jarm["code"]
        assert jarm["state"]
        rp.stdin.write(callback + "\n")
        rp.stdin.flush()
        output, errors = rp.communicate(timeout=60)
    finally:
        if rp.poll() is None:
            rp.kill()
    assert rp.returncode == 0, errors
    done = json.loads(output.strip().splitlines()[-1])
    assert done["token_type"].lower() == "dpop"
    assert done["refreshed_token_type"].lower() == "dpop"
    assert done["userinfo"]["sub"] == done["sub"]
    keys = jwt.PyJWKSet.from_dict(httpx.get(f"{provider.base_url}/.well-known/jwks.json").json())
    for token, typ in ((done["access_token"], "at+jwt"), (done["refreshed_access_token"], "at+jwt"),
                       (done["id_token"], "JWT")):  # fmt: skip
        header = jwt.get_unverified_header(token)
        assert header["typ"] == typ
        assert header["alg"] in ("PS256", "ES256", "EdDSA")  # FAPI 2.0 SP §5.4.1-1
        claims = jwt.decode(
            token,
            keys[header["kid"]].key,
            algorithms=[header["alg"]],
            issuer=provider.base_url,
            options={"verify_aud": False},
        )
        if typ == "at+jwt":
            # RFC 9449 §6.1: bound to openid-client's DPoP key.
            assert len(claims["cnf"]["jkt"]) == 43
        else:
            assert claims["aud"] == client_id
            assert claims["amr"] == ["pwd"]
