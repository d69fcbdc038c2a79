"""The guard, attacked through a real ``tokend serve``.

Item 19: tokend's own access tokens opened the guard for any audience: a token any tokend client
got for any other API was good here too. And a Keycloak admin lookup for the user ``..`` became
a request to another admin API path (httpx removes the dot segment).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.e2e.server import Server, free_port, tokend_json
from tests.secrets_seen import SecretsSeen
from tests.security.serve import server_env, tokend_serve
from tests.unit.guard.fake_issuer import CLIENT_ID, CLIENT_SECRET, FakeIssuer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tokend(
    tmp_path_factory: pytest.TempPathFactory, secrets_seen: SecretsSeen
) -> Iterator[tuple[Server, dict[str, str]]]:
    """OIDC and the guard in one non-demo process, with the settings' defaults (each case
    registers its own client)."""
    tmp_path = tmp_path_factory.mktemp("guard")
    with tokend_serve(tmp_path, secrets_seen, TOKEND_MODULES="oidc,guard") as server:
        yield server, server_env(tmp_path, TOKEND_ISSUER=server.base_url)


def service_token(
    server: Server, env: dict[str, str], secrets_seen: SecretsSeen, *audiences: str
) -> str:
    """A client_credentials token from a client registered with ``audiences`` (RFC 8707: the
    token is for those it names in ``resource``, else the issuer)."""
    created = tokend_json(
        env,
        "clients",
        "create",
        "--name",
        "orders service",
        "--grant",
        "client_credentials",
        "--scope",
        "orders:read",
        *[arg for audience in audiences for arg in ("--audience", audience)],
    )
    secret = secrets_seen.add(created["client_secret"])
    form = {"grant_type": "client_credentials", "scope": "orders:read"}
    if audiences:
        form["resource"] = audiences[0]
    response = httpx.post(
        f"{server.base_url}/token", data=form, auth=(created["client_id"], secret), timeout=10
    )
    assert response.status_code == 200, response.text
    return secrets_seen.add(response.json()["access_token"])


def test_a_token_tokend_issued_for_another_audience_does_not_open_the_guard(
    tokend: tuple[Server, dict[str, str]], secrets_seen: SecretsSeen
) -> None:
    server, env = tokend
    elsewhere = service_token(server, env, secrets_seen)  # aud: the issuer
    other_api = service_token(server, env, secrets_seen, "https://orders.example")
    for token in (elsewhere, other_api):
        response = httpx.get(
            f"{server.base_url}/guard/auth/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "TOKEN_INVALID"


def test_a_token_tokend_issued_for_the_guard_opens_it(
    tokend: tuple[Server, dict[str, str]], secrets_seen: SecretsSeen
) -> None:
    server, env = tokend
    token = service_token(server, env, secrets_seen, f"{server.base_url}/guard")
    response = httpx.get(
        f"{server.base_url}/guard/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text


@dataclass
class RecordingKeycloak(FakeIssuer):
    """The fake realm plus two admin API paths that are no user's, and a record of every path."""

    paths: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        app = super().app()
        admin = f"/admin/realms/{self.realm}"
        app.router.routes.append(Route(admin, self.realm_representation))
        app.router.routes.append(Route(f"{admin}/groups", self.every_group))
        return app

    async def realm_representation(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        return JSONResponse({"id": self.realm, "realm": self.realm, "smtpServer": {"host": "x"}})

    async def every_group(self, request: Request) -> Response:
        self.paths.append(request.url.path)
        return JSONResponse([{"id": "g-9", "name": "board", "path": "/board"}])


@pytest.fixture(scope="module")
def keycloak(secrets_seen: SecretsSeen) -> Iterator[RecordingKeycloak]:
    secrets_seen.add(CLIENT_SECRET)
    fake = RecordingKeycloak()
    with fake.serve():
        yield fake


@pytest.fixture(scope="module")
def guard_only(
    tmp_path_factory: pytest.TempPathFactory, keycloak: RecordingKeycloak, secrets_seen: SecretsSeen
) -> Iterator[Server]:
    with tokend_serve(
        tmp_path_factory.mktemp("guard-only"),
        secrets_seen,
        "--only",
        "guard",
        port=free_port(),
        TOKEND_GUARD__KEYCLOAK_SERVER_URL=keycloak.base,
        TOKEND_GUARD__KEYCLOAK_REALM=keycloak.realm,
        TOKEND_GUARD__KEYCLOAK_CLIENT_ID=CLIENT_ID,
        TOKEND_GUARD__KEYCLOAK_CLIENT_SECRET=CLIENT_SECRET,
        # The stand-in Keycloak runs on loopback: the outbound policy must name it.
        TOKEND_HTTP__ALLOW_HOSTS=urlsplit(keycloak.base).netloc,
    ) as server:
        yield server


@pytest.mark.parametrize(
    "path", ["/admin/users/%2E%2E", "/admin/users/%2E%2E/groups", "/admin/users/%2E/groups"]
)
def test_a_user_id_of_dot_segments_reaches_no_other_admin_api_path(
    guard_only: Server, keycloak: RecordingKeycloak, secrets_seen: SecretsSeen, path: str
) -> None:
    admin = secrets_seen.add(keycloak.token())  # the realm's token with the admin role
    keycloak.paths.clear()
    response = httpx.get(
        guard_only.base_url + path, headers={"Authorization": f"Bearer {admin}"}, timeout=10
    )
    assert keycloak.paths == []
    assert response.status_code == 422, response.text
