"""examples/resource_server.py works as documented against a real issuer."""

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.secrets_seen import SecretsSeen
from tests.unit.guard.fake_issuer import FakeIssuer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "resource_server.py"


@pytest.fixture
async def example(
    issuer: FakeIssuer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("GUARD_ISSUER", issuer.issuer)
    spec = importlib.util.spec_from_file_location("resource_server_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    async with LifespanManager(module.app):
        transport = httpx.ASGITransport(app=module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as c:
            yield c


async def test_example_protects_its_routes(
    example: httpx.AsyncClient, issuer: FakeIssuer, secrets_seen: SecretsSeen
) -> None:
    assert (await example.get("/me")).status_code == 401
    token = secrets_seen.add(issuer.token(realm_access={"roles": ["user"]}))
    headers = {"Authorization": f"Bearer {token}"}
    me = await example.get("/me", headers=headers)
    assert me.json() == {"sub": "user-1", "username": "alice", "roles": ["orders-viewer", "user"]}
    assert (await example.get("/orders", headers=headers)).json() == [{"id": "o-1"}]
    denied = await example.delete("/orders/o-1", headers=headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"
    admin = {"Authorization": f"Bearer {secrets_seen.add(issuer.token())}"}
    assert (await example.delete("/orders/o-1", headers=admin)).json() == {"cancelled": "o-1"}
