"""require_auth / require_roles / require_scopes in a third-party FastAPI app over HTTP."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tests.unit.guard.test_attacks import GUARD_ATTACKS, guard_validator
from tokend.core.clock import FrozenClock
from tokend.core.errors import InvalidToken
from tokend.core.http import GuardedClient
from tokend.core.jwt import TokenExpired
from tokend.guard import Guard, JWTValidator, Principal, TrustedIssuer


def protected_app(guard: Guard) -> FastAPI:
    app = FastAPI()
    guard.install(app)

    @app.get("/me")
    async def me(user: Annotated[Principal, Depends(guard.require_auth)]) -> dict[str, Any]:
        return {"sub": user.subject, "roles": sorted(user.roles)}

    @app.get("/any", dependencies=[Depends(guard.require_roles("manager", "admin"))])
    async def any_role() -> dict[str, str]:
        return {"ok": "any"}

    @app.get("/all", dependencies=[Depends(guard.require_roles("user", "ceo", mode="all"))])
    async def all_roles() -> dict[str, str]:
        return {"ok": "all"}

    @app.get(
        "/client", dependencies=[Depends(guard.require_roles("manage-account", client="account"))]
    )
    async def client_role() -> dict[str, str]:
        return {"ok": "client"}

    @app.get("/orders", dependencies=[Depends(guard.require_scopes("orders:read"))])
    async def orders() -> dict[str, str]:
        return {"ok": "orders"}

    @app.get(
        "/orders/write", dependencies=[Depends(guard.require_scopes("orders:read", "orders:write"))]
    )
    async def write() -> dict[str, str]:
        return {"ok": "write"}

    router = APIRouter(prefix="/admin", dependencies=[Depends(guard.require_roles("admin"))])

    @router.get("/stats")
    async def stats() -> dict[str, str]:
        return {"ok": "admin"}

    app.include_router(router)
    return app


@pytest.fixture
async def client(
    issuer: FakeIssuer, http: GuardedClient, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    validator = JWTValidator(
        [TrustedIssuer(issuer.issuer, audiences=frozenset({"orders-api"}))],
        http=http,
        clock=clock,
    )
    app = protected_app(Guard(validator, realm="orders"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_credentials_is_401_with_a_bare_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="orders"'
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert body["error"]["message"] == "Not authenticated"
    assert set(body["metadata"]) >= {"timestamp", "version"}


async def test_other_schemes_are_not_bearer_credentials(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="orders"'


async def test_valid_token_reaches_the_route(
    client: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    response = await client.get("/me", headers={"Authorization": f"bEaReR {token}"})
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1", "roles": ["admin", "user"]}


async def test_invalid_token_is_401_invalid_token(
    client: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token(aud="someone-else"))
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="invalid_token", error_description="Invalid or expired token"'
    )
    assert response.json()["error"]["code"] == "TOKEN_INVALID"
    assert token not in response.text


async def test_expired_token_is_401_token_expired(
    client: httpx.AsyncClient, issuer: FakeIssuer, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token(exp=int(clock.now().timestamp()) - 120))
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"]["code"] == "TOKEN_EXPIRED"


@pytest.mark.parametrize(
    ("path", "roles", "status"),
    [
        ("/any", ["admin"], 200),
        ("/any", ["manager"], 200),
        ("/any", ["user"], 403),
        ("/all", ["user", "ceo", "x"], 200),
        ("/all", ["user"], 403),
        ("/admin/stats", ["admin"], 200),
        ("/admin/stats", ["Admin"], 403),  # role names are case-sensitive (seed 002)
        ("/client", [], 200),  # the client role comes from resource_access.account
    ],
)
async def test_role_checks(
    client: httpx.AsyncClient,
    issuer: FakeIssuer,
    secrets_seen: SecretsSeen,
    path: str,
    roles: list[str],
    status: int,
) -> None:
    token = secrets_seen.add(issuer.token(realm_access={"roles": roles}))
    response = await client.get(path, headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        body = response.json()
        assert body["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
        assert body["error"]["message"].startswith("Forbidden: ")
        assert "www-authenticate" not in response.headers


async def test_client_roles_of_another_client_do_not_count(
    client: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token(resource_access={"other": {"roles": ["manage-account"]}}))
    assert (await client.get("/client", headers=bearer(token))).status_code == 403


async def test_scope_checks_use_insufficient_scope(
    client: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(issuer.token())
    assert (await client.get("/orders", headers=bearer(token))).status_code == 200
    response = await client.get("/orders/write", headers=bearer(token))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="orders", error="insufficient_scope", '
        'error_description="The token lacks a required scope", scope="orders:read orders:write"'
    )
    assert response.json()["error"]["message"] == "Forbidden: scope 'orders:write' required"
    listed = secrets_seen.add(issuer.token(scope=None, scp=["orders:read", "orders:write"]))
    assert (await client.get("/orders/write", headers=bearer(listed))).status_code == 200


@pytest.mark.parametrize(
    ("make", "error", "reason", "overrides"), GUARD_ATTACKS.values(), ids=GUARD_ATTACKS
)
async def test_malicious_token_gets_401_invalid_token_over_http(
    make: Callable[[], str],
    error: type[InvalidToken],
    reason: str,
    overrides: dict[str, Any],
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(make())
    app = protected_app(Guard(guard_validator(overrides)))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
        response = await c.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    code = "TOKEN_EXPIRED" if error is TokenExpired else "TOKEN_INVALID"
    assert response.json()["error"]["code"] == code
    for part in filter(None, token.split(".")):
        assert part[:64] not in response.text
