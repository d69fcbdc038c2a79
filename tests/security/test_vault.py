"""The vault against a real ``tokend serve``: its demo provider sends a code only to the demo
client's registered redirect URI and never runs in production; its HTML pages carry the one
security-header policy of every tokend page, the provider's (OIDC) pages the same."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.fuzzing import demo_server
from tests.e2e.server import REPO, TOKEND, Server, tokend_env
from tests.secrets_seen import SecretsSeen

pytestmark = pytest.mark.e2e

#: The demo client of the vault's demo provider (tokend.vault.demo).
DEMO_CLIENT_ID = "tokend-demo-vault"
SECURITY_HEADERS = ("X-Frame-Options", "X-Content-Type-Options", "Content-Security-Policy")
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("vault-security"), secrets_seen) as running:
        yield running


def demo_client_pk(api: httpx.Client) -> int:
    clients = api.get("/vault/clients", params={"limit": 500}).json()
    (demo,) = [c for c in clients if c["client_id"] == DEMO_CLIENT_ID]
    return int(demo["id"])


def security_headers(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in SECURITY_HEADERS}


def assert_unframeable_and_unsniffable(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert response.headers.get("Cache-Control") == "no-store"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/steal",
        "{registered}/../../steal",
        "{registered}?next=https://attacker.example",
        "http://127.0.0.1:1/auth/callback",
    ],
)
def test_the_demo_provider_sends_no_code_to_another_redirect_uri(
    server: Server, redirect_uri: str
) -> None:
    registered = f"{server.base_url}/vault/auth/callback"
    target = redirect_uri.format(registered=registered)
    answer = httpx.get(
        f"{server.base_url}/vault/demo-provider/authorize",
        params={
            "response_type": "code",
            "client_id": DEMO_CLIENT_ID,
            "redirect_uri": target,
            "state": "attacker-state",
        },
        timeout=10,
    )
    # RFC 6749 §4.1.2.1: a redirect URI that does not match is not redirected to.
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.json() == {"error": "invalid_request"}


def test_the_demo_provider_still_connects_its_client_through_the_registered_uri(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as api:
        pk = demo_client_pk(api)
        approved = api.get(f"/vault/oauth/login/{pk}", headers=HTML, follow_redirects=True)
    assert approved.status_code == 200
    assert [str(r.url).split("?")[0] for r in approved.history[1:]] == [
        f"{server.base_url}/vault/demo-provider/authorize"
    ]
    assert str(approved.url).startswith(f"{server.base_url}/vault/auth/callback?code=")
    assert "is connected" in approved.text


def test_the_vault_pages_carry_the_same_security_headers_as_the_provider_pages(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as api:
        failed = api.get("/vault/auth/callback", params={"state": "unknown"}, headers=HTML)
        connected = api.get(
            f"/vault/oauth/login/{demo_client_pk(api)}", headers=HTML, follow_redirects=True
        )
        provider_page = api.get("/password/forgot", headers=HTML)
    assert failed.status_code == 400
    assert "Connection failed" in failed.text
    assert connected.status_code == 200
    assert provider_page.status_code == 200
    for page in (failed, connected, provider_page):
        assert_unframeable_and_unsniffable(page)
    assert security_headers(failed) == security_headers(provider_page)
    assert security_headers(connected) == security_headers(provider_page)


def test_the_demo_provider_is_refused_in_production(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TOKEND, "serve", "--port", "1"],
        env=tokend_env(
            TOKEND_ENV="production",
            TOKEND_ISSUER="https://id.example.com",
            TOKEND_SECRET_KEY=TEST_SECRET_KEY,
            TOKEND_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
            TOKEND_VAULT__DEMO_PROVIDER="true",
            TOKEND_METRICS__PORT="9464",  # production protects /metrics
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("tokend: TOKEND_VAULT__DEMO_PROVIDER")
    assert "Traceback" not in result.stderr + result.stdout
