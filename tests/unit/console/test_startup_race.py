"""Two workers start at once: the one that loses the race to create the console's client (or
the demo administrator) takes the other's row instead of failing its start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from tokend.console.capability import _keep_console_client
from tokend.console.signin import console_client
from tokend.core.errors import Conflict
from tokend.oidc.admin_scope import CONSOLE_CLIENT_ID
from tokend.oidc.records import Client
from tokend.oidc.registry import Registry


@dataclass
class RacedClients:
    """A store whose client another worker created between our read and our write."""

    replaced: list[Client] = field(default_factory=list)

    async def get(self, client_id: str) -> Client | None:
        return None  # not there yet when this worker looked

    async def add(self, client: Client) -> None:
        raise Conflict(f"client {client.client_id} already exists")

    async def replace(self, client: Client) -> None:
        self.replaced.append(client)


@dataclass
class Forgotten:
    ids: list[str] = field(default_factory=list)

    async def forget(self, client_id: str) -> None:
        self.ids.append(client_id)


@dataclass
class FakeRegistry:
    clients: RacedClients
    cached: Forgotten


async def test_the_worker_that_loses_the_race_puts_its_settings_back() -> None:
    issuer = "http://127.0.0.1:8000"
    client = console_client(issuer, issuer).to_client(CONSOLE_CLIENT_ID, None)
    registry = FakeRegistry(RacedClients(), Forgotten())
    await _keep_console_client(cast("Registry", registry), client)
    assert registry.clients.replaced == [client]
    assert registry.cached.ids == [CONSOLE_CLIENT_ID]
