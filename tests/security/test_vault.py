"""The vault against a real ``tokend serve``: its demo provider sends a code only to the demo
client's registered redirect URI and never runs in production; its HTML pages carry the one
security-header policy of every tokend page, the provider's (OIDC) pages the same; a service
reaches only the connections of the tenants its OpenID client was given (item 25)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.api.vault.fake_provider import FakeProvider
from tests.conftest import TEST_SECRET_KEY
from tests.e2e.fuzzing import demo_server
from tests.e2e.server import (
    REPO,
    TOKEND,
    Server,
    free_port,
    tokend_command,
    tokend_env,
    tokend_json,
)
from tests.secrets_seen import SecretsSeen
from tests.security.serve import server_env, tokend_serve
from tests.unit.broker.servers import serving
from tests.upstreams import LOOPBACK_ALLOW_HOSTS

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


# 25. Tenants were not isolated: any token with vault:exchange got any tenant's provider token.

ADMIN_TOKEN = "vault-security-admin-" + secrets.token_hex(16)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class Tenants:
    """One vault, two tenants: each its own OAuth app at its own provider, connected."""

    server: Server
    #: The environment of ``tokend`` commands run against the server's database.
    env: dict[str, str]
    a: int
    b: int
    providers: dict[int, FakeProvider]

    @property
    def admin_audience(self) -> str:
        return f"{self.server.base_url}/admin"

    def provider_token(self, pk: int) -> str:
        """The access token the provider of connection ``pk`` issued last."""
        return self.providers[pk].issued_access_tokens[-1]


def write_catalog(path: Path, providers: dict[str, FakeProvider]) -> Path:
    entries = [
        f"{name}:\n  display_name: {name}\n"
        f"  authorization_url: {p.base_url}/authorize\n"
        f"  token_url: {p.base_url}/token\n"
        f"  revocation_url: {p.base_url}/revoke\n"
        for name, p in providers.items()
    ]
    path.write_text("".join(entries), encoding="utf-8")
    return path


def connect(server: Server, provider: FakeProvider, name: str) -> int:
    """Register ``provider``'s app as a vault client and run the connect flow, as its tenant's
    operator does with the admin token; the new client's id."""
    vault = f"{server.base_url}/vault"
    with httpx.Client(base_url=vault, headers=ADMIN, timeout=10) as api:
        created = api.post(
            "/clients",
            json={
                "client_id": provider.client_id,
                "client_secret": provider.client_secret,
                "redirect_uri": f"{vault}/auth/callback",
                "provider": name,
            },
        )
        assert created.status_code == 201, created.text
        pk = int(created.json()["client_id"])
        started = api.get(f"/oauth/start/{pk}")
        assert started.status_code == 200, started.text
        approved = httpx.get(started.json()["auth_url"], timeout=10)
        query = dict(parse_qsl(urlsplit(approved.headers["location"]).query))
        assert api.get("/auth/callback", params=query).status_code == 200
    return pk


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[Tenants]:
    secrets_seen.add(ADMIN_TOKEN)
    tmp = tmp_path_factory.mktemp("vault-tenants")
    one, two = FakeProvider(client_id="tenant-a-app"), FakeProvider(client_id="tenant-b-app")
    for provider in (one, two):
        secrets_seen.add(provider.client_secret)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with serving(one.app()) as one_url, serving(two.app()) as two_url:
        one.base_url, two.base_url = one_url, two_url
        catalog = write_catalog(tmp / "providers.yaml", {"tenant-a": one, "tenant-b": two})
        with tokend_serve(
            tmp,
            secrets_seen,
            port=port,
            TOKEND_ISSUER=issuer,
            TOKEND_MODULES="oidc,vault",
            TOKEND_ADMIN_TOKEN=ADMIN_TOKEN,
            TOKEND_VAULT__PROVIDERS_FILE=str(catalog),
            TOKEND_HTTP__ALLOW_HOSTS=LOOPBACK_ALLOW_HOSTS,  # the providers run on loopback
            # A client changed with the CLI (another process) is seen at once, not after the
            # server's cached copy expires.
            TOKEND_OIDC__CLIENT_CACHE_TTL_S="0",
        ) as server:
            a, b = connect(server, one, "tenant-a"), connect(server, two, "tenant-b")
            yield Tenants(server, server_env(tmp, TOKEND_ISSUER=issuer), a, b, {a: one, b: two})
    for provider in (one, two):
        for value in (*provider.issued_access_tokens, *provider.issued_refresh_tokens):
            secrets_seen.add(value)


def service_client(
    tenants: Tenants, secrets_seen: SecretsSeen, scope: str, *vault_clients: int
) -> tuple[str, str]:
    """``tokend clients create`` for a service of ``vault_clients``; its id and secret."""
    created = tokend_json(
        tenants.env,
        "clients",
        "create",
        "--name",
        "reviews service",
        "--grant",
        "client_credentials",
        "--scope",
        scope,
        "--audience",
        tenants.admin_audience,
        *[arg for pk in vault_clients for arg in ("--vault-client", str(pk))],
    )
    return created["client_id"], secrets_seen.add(created["client_secret"])


def service_token(tenants: Tenants, secrets_seen: SecretsSeen, client: tuple[str, str]) -> str:
    response = httpx.post(
        f"{tenants.server.base_url}/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return secrets_seen.add(response.json()["access_token"])


def exchanged(tenants: Tenants, token: str, pk: int) -> httpx.Response:
    """RFC 8693: ``token`` traded for connection ``pk``'s provider token."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": f"urn:tokend:vault:client:{pk}",
    }
    return httpx.post(f"{tenants.server.base_url}/vault/token", data=form, timeout=10)


def reach(tenants: Tenants, token: str) -> dict[str, Any]:
    """What ``token`` gets from the vault: each connection's exchange and validate status, and
    the clients the API lists."""
    bearer = {"Authorization": f"Bearer {token}"}
    seen: dict[str, Any] = {}
    with httpx.Client(base_url=f"{tenants.server.base_url}/vault", timeout=10) as api:
        listed = api.get("/clients", params={"limit": 500}, headers=bearer)
        assert listed.status_code == 200, listed.text
        seen["listed"] = sorted(c["id"] for c in listed.json())
        for name, pk in (("a", tenants.a), ("b", tenants.b)):
            swap = exchanged(tenants, token, pk)
            seen[f"exchange {name}"] = swap.status_code
            if swap.status_code == 200:
                assert swap.json()["access_token"] == tenants.provider_token(pk)
            else:
                assert swap.json()["error"] == "invalid_target"
            seen[f"validate {name}"] = api.get(f"/tokens/validate/{pk}", headers=bearer).status_code
    return seen


def test_a_tenants_service_reaches_its_own_connection_and_not_anothers(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    client = service_client(tenants, secrets_seen, "vault:read vault:exchange", tenants.a)
    token = service_token(tenants, secrets_seen, client)
    assert reach(tenants, token) == {
        "listed": [tenants.a],
        "exchange a": 200,
        "validate a": 200,
        "exchange b": 400,
        "validate b": 404,
    }


def test_a_service_given_no_tenant_reaches_no_connection(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    client = service_client(tenants, secrets_seen, "vault:read vault:exchange")
    token = service_token(tenants, secrets_seen, client)
    assert reach(tenants, token) == {
        "listed": [],
        "exchange a": 400,
        "validate a": 404,
        "exchange b": 400,
        "validate b": 404,
    }


def test_validate_gives_no_tenants_token_to_a_missing_wrong_or_odd_request(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    """``GET /tokens/validate/{id}`` is served by its lean twin (``tokend.server.lean``), which
    hands ids it does not read itself to FastAPI: no way of writing the id or the credential
    gets tenant B's token for a caller of tenant A, or either token for no caller."""
    client = service_client(tenants, secrets_seen, "vault:read", tenants.a)
    token = service_token(tenants, secrets_seen, client)
    b = tenants.b
    encoded = "".join(f"%3{digit}" for digit in str(b))  # each digit percent-encoded
    odd_ids = [f"0{b}", f"00{b}", f"+{b}", f"{b}.0", f"{b}%20", encoded, f"{b}/", "0", "-1"]
    seen: dict[str, int] = {}
    with httpx.Client(base_url=f"{tenants.server.base_url}/vault", timeout=10) as api:
        for name, headers in (
            ("none", {}),
            ("garbage", {"Authorization": "Bearer not-a-token"}),
            ("basic", {"Authorization": "Basic YTpi"}),
        ):
            response = api.get(f"/tokens/validate/{tenants.a}", headers=headers)
            seen[name] = response.status_code
            assert tenants.provider_token(tenants.a) not in response.text
        bearer = {"Authorization": f"Bearer {token}"}
        for written in odd_ids:
            response = api.get(f"/tokens/validate/{written}", headers=bearer)
            # 307: FastAPI's redirect of a trailing slash, which httpx does not follow here.
            assert response.status_code in (307, 404, 422), (written, response.text)
            assert tenants.provider_token(b) not in response.text
        own = api.get(f"/tokens/validate/{tenants.a}", headers=bearer)
    assert seen == {"none": 401, "garbage": 401, "basic": 401}
    assert own.status_code == 200
    assert own.json()["access_token"] == tenants.provider_token(tenants.a)


def test_the_admin_api_sets_a_clients_tenants_and_the_cli_changes_them(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    body = {
        "name": "listings service",
        "grant_types": ["client_credentials"],
        "scope": "vault:read vault:exchange",
        "audiences": [tenants.admin_audience],
        "vault_clients": [tenants.b],
    }
    with httpx.Client(base_url=tenants.server.base_url, headers=ADMIN, timeout=10) as http:
        created = http.post("/admin/clients", json=body)
        assert created.status_code == 201, created.text
        client = (created.json()["client_id"], secrets_seen.add(created.json()["client_secret"]))
        assert created.json()["vault_clients"] == [tenants.b]
        assert reach(tenants, service_token(tenants, secrets_seen, client)) == {
            "listed": [tenants.b],
            "exchange a": 400,
            "validate a": 404,
            "exchange b": 200,
            "validate b": 200,
        }
        tokend_command(
            tenants.env, "clients", "update", client[0], "--vault-client", str(tenants.a)
        )
        shown = http.get(f"/admin/clients/{client[0]}").json()
    assert shown["vault_clients"] == [tenants.a]
    assert reach(tenants, service_token(tenants, secrets_seen, client))["listed"] == [tenants.a]


def test_a_vault_admin_reaches_every_tenant_without_being_given_them(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    client = service_client(tenants, secrets_seen, "vault:admin")
    token = service_token(tenants, secrets_seen, client)
    assert reach(tenants, token) == {
        "listed": sorted((tenants.a, tenants.b)),
        "exchange a": 200,
        "validate a": 200,
        "exchange b": 200,
        "validate b": 200,
    }


def test_another_tenants_branch_answers_like_a_missing_one(
    tenants: Tenants, secrets_seen: SecretsSeen
) -> None:
    branch = {"branch_id": "tenant-b-shop-" + secrets.token_hex(3), "client_id": tenants.b}
    with httpx.Client(base_url=f"{tenants.server.base_url}/vault", timeout=10) as api:
        assert api.post("/branches", json=branch, headers=ADMIN).status_code == 201
        client = service_client(tenants, secrets_seen, "vault:read", tenants.a)
        bearer = {"Authorization": f"Bearer {service_token(tenants, secrets_seen, client)}"}
        theirs = api.get(f"/tokens/{branch['branch_id']}", headers=bearer)
        missing = api.get("/tokens/no-such-branch", headers=bearer)
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
    assert missing.status_code == 404
