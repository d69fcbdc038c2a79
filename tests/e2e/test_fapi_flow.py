"""FAPI 2.0 interop: the unmodified openid-client (npm) drives a pushed authorization request,
private_key_jwt client authentication, PKCE and DPoP against a real ``tokend serve`` with the
client on the FAPI 2.0 profile; the tokens verify with PyJWT against the JWKS, and the access
tokens are bound to openid-client's DPoP key (``cnf.jkt``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.api.oidc.conftest import csrf_of, query_of
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.server import REPO, TOKEND, Server, free_port, start, tokend_env
from tests.e2e.test_oidc_flow import NPM_DIR, _install_openid_client
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

RP_SCRIPT = Path(__file__).with_name("test_fapi_rp.mjs")
PASSWORD = "e2e password 4 the fapi flow"
ADMIN_TOKEN = "e2e-fapi-admin-" + TEST_SECRET_KEY[-16:]
CALLBACK = "http://127.0.0.1:9/cb"


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
    subprocess.run([*TOKEND, "migrate"], env=env, cwd=REPO, check=True, capture_output=True)
    subprocess.run(
        [*TOKEND, "users", "create", "--email", "fapi@example.org", "--password", PASSWORD,
         "--verified", "--json"],
        env=env, cwd=REPO, check=True, capture_output=True,
    )  # fmt: skip
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
              "fapi2_profile": True, "skip_consent": True},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


def _sign_in(authorize_url: str) -> str:
    """The browser's part, by hand: the pushed request's URL, the login form, the callback."""
    with httpx.Client() as browser:
        response = browser.get(authorize_url)
        assert response.status_code == 303, response.text
        interaction = response.headers["location"]
        base = authorize_url.split("/authorize", 1)[0]
        page = browser.get(base + interaction)
        response = browser.post(
            f"{base}{interaction}/login",
            data={"csrf_token": csrf_of(page.text), "email": "fapi@example.org",
                  "password": PASSWORD},
        )  # fmt: skip
        assert response.status_code == 303, response.text
        location: str = response.headers["location"]
        assert location.startswith(CALLBACK), location
        assert "code" in query_of(location)
        return location


def test_openid_client_drives_par_private_key_jwt_and_dpop(provider: Server) -> None:
    if shutil.which("node") is None:
        pytest.fail("node is needed for this test")
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
        rp.stdin.write(_register(provider, first["jwk"]) + "\n")
        rp.stdin.flush()
        second = json.loads(rp.stdout.readline() or "{}")
        assert second.get("step") == "authorize", rp.stderr.read() if rp.stderr else ""
        assert "request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A" in second["url"]
        rp.stdin.write(_sign_in(second["url"]) + "\n")
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
            assert claims["amr"] == ["pwd"]
