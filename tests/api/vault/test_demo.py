"""Demo mode: the in-process demo provider runs the whole loop with nothing else running."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.server import free_port
from tests.unit.broker.servers import serving
from tokend.app import create_app
from tokend.config import Settings


async def test_demo_client_connects_validates_refreshes_and_revokes(
    vault_settings: Callable[..., Settings],
) -> None:
    port = free_port()
    data = vault_settings(demo_provider=True).model_dump(mode="python")
    data["server"] = {"host": "127.0.0.1", "port": port}
    app = create_app(Settings.model_validate(data))
    with serving(app, port=port) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as api:
            clients = (await api.get("/clients", params={"limit": 500})).json()
            (demo,) = [c for c in clients if c["client_id"] == "tokend-demo-vault"]
            pk = demo["id"]
            seeded = (await api.get(f"/tokens/validate/{pk}")).json()
            assert seeded["is_valid"] is True

            start = (await api.get(f"/oauth/start/{pk}")).json()
            approved = await api.get(start["auth_url"])
            assert approved.status_code == 302
            connected = await api.get(approved.headers["location"])
            assert connected.status_code == 200, connected.text
            token = (await api.get(f"/tokens/validate/{pk}")).json()["access_token"]
            assert token != seeded["access_token"]

            refreshed = await api.post("/tokens/refresh", json={"client_id": pk})
            assert refreshed.status_code == 200
            assert refreshed.json()["access_token"] != token

            revoked = await api.delete(f"/tokens/{pk}")
            assert revoked.json()["revoked_at_provider"] is True
            assert (await api.get(f"/tokens/validate/{pk}")).json()["is_valid"] is False
