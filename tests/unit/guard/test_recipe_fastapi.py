"""docs/recipes/fastapi-guard.md: its service, run as written, against two issuers."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.log_lines import LogLines
from tests.recipes import RECIPES, code_blocks
from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer
from tokend.core.jwt import mint

RECIPE = RECIPES / "fastapi-guard.md"


@pytest.fixture
def tokend_issuer() -> Iterator[FakeIssuer]:
    fake = FakeIssuer(realm="tokend", access_ttl_s=3600)
    with fake.serve():
        yield fake


@pytest.fixture
def log_lines(capfd: pytest.CaptureFixture[str]) -> LogLines:
    return LogLines(capfd)


@pytest.fixture
async def service(
    issuer: FakeIssuer,
    tokend_issuer: FakeIssuer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[ModuleType, httpx.AsyncClient]]:
    (program,) = [block for block in code_blocks(RECIPE, "python") if "FastAPI(" in block]
    path = tmp_path / "orders.py"
    path.write_text(program)
    monkeypatch.setenv("TOKEND_ISSUER", tokend_issuer.issuer)
    monkeypatch.setenv("KEYCLOAK_ISSUER", issuer.issuer)
    monkeypatch.setenv("GUARD_ALLOW_HOSTS", "127.0.0.1")
    spec = importlib.util.spec_from_file_location("orders_recipe", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    async with LifespanManager(module.app):
        transport = httpx.ASGITransport(app=module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as c:
            yield module, c
    assert module.app.state.orders == {}  # the service's own shut-down ran


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_recipe_service_takes_tokens_of_both_issuers_for_its_audience_only(
    service: tuple[ModuleType, httpx.AsyncClient],
    issuer: FakeIssuer,
    tokend_issuer: FakeIssuer,
    secrets_seen: SecretsSeen,
    log_lines: LogLines,
) -> None:
    _module, client = service
    assert (await client.get("/me")).status_code == 401
    # tokend: an RFC 9068 access token for the orders-api resource.
    claims = tokend_issuer.claims(
        aud="orders-api", scope="orders:read", roles=["manager"], realm_access=None
    )
    from_tokend = secrets_seen.add(mint(claims, tokend_issuer.keys[0], typ="at+jwt"))
    me = (await client.get("/me", headers=bearer(from_tokend))).json()
    assert me == {"sub": "user-1", "issuer": tokend_issuer.issuer, "roles": ["manager"]}
    assert (await client.get("/orders", headers=bearer(from_tokend))).json() == [
        {"id": "o-1", "owner": "user-1"}
    ]
    # Keycloak: realm roles plus the orders-api client's roles.
    from_keycloak = secrets_seen.add(issuer.token(realm_access={"roles": ["user"]}))
    me = (await client.get("/me", headers=bearer(from_keycloak))).json()
    assert me["roles"] == ["orders-viewer", "user"]
    refused = await client.delete("/orders/o-1", headers=bearer(from_keycloak))
    assert refused.status_code == 403
    no_scope = secrets_seen.add(issuer.token(scope="openid"))
    assert (await client.get("/orders", headers=bearer(no_scope))).status_code == 403
    cancelled = await client.delete("/orders/o-1", headers=bearer(from_tokend))
    assert cancelled.json() == {"cancelled": "o-1"}
    # Another audience, and tokend's token without its RFC 9068 type: refused, and logged.
    elsewhere = secrets_seen.add(issuer.token(aud="billing-api"))
    answer = await client.get("/me", headers=bearer(elsewhere))
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    untyped = secrets_seen.add(tokend_issuer.token(aud="orders-api"))
    assert (await client.get("/me", headers=bearer(untyped))).status_code == 401
    reasons = [line["reason"] for line in log_lines.named("guard.token_refused")]
    assert reasons == ["audience", "type"]
