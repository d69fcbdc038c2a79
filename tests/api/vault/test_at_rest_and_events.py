"""Secrets at rest are ciphertext; the owner hears about connections through signed webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.api.vault.conftest import Connector
from tests.api.vault.fake_provider import FakeProvider
from tests.secrets_seen import SecretsSeen
from tests.unit.broker.servers import serving
from tokend.core.clock import FrozenClock
from tokend.jobs.inprocess import InProcessJobs
from tokend.store.engine import Database


async def test_raw_database_holds_no_token_or_secret_in_clear(
    connector: Connector, api: httpx.AsyncClient, provider: FakeProvider, database: Database
) -> None:
    provider.rotates = True
    pk = await connector.connect()
    await api.post("/tokens/refresh", json={"client_id": pk})
    secrets_in_play = [
        provider.client_secret,
        *provider.issued_access_tokens,
        *provider.issued_refresh_tokens,
    ]
    dumped: list[str] = []
    async with database.engine.connect() as conn:
        for table in ("vault_clients", "vault_tokens", "vault_oauth_states"):
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            dumped += [str(value) for row in rows for value in row]
    assert len(dumped) > 0
    everything = "\n".join(dumped)
    for value in secrets_in_play:
        assert value not in everything
    assert "v1." in everything  # FieldCipher ciphertexts are what is there


@dataclass
class Receiver:
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    #: Answer the next deliveries with these statuses, then 204.
    failures: list[int] = field(default_factory=list)

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        return Response(status_code=self.failures.pop(0) if self.failures else 204)

    async def wait_for(self, count: int) -> None:
        for _ in range(200):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} webhook deliveries, got {len(self.received)}")


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver()
    app = Starlette(routes=[Route("/hook", hooks.hook, methods=["POST"])])
    with serving(app) as base_url:
        yield hooks, f"{base_url}/hook"


def _check_signature(headers: dict[str, str], body: bytes, secret: str) -> None:
    parts = dict(item.split("=", 1) for item in headers["tokend-signature"].split(","))
    mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], mac.hexdigest())


async def test_connect_and_broken_connection_are_posted_signed(
    connector: Connector,
    api: httpx.AsyncClient,
    provider: FakeProvider,
    clock: FrozenClock,
    receiver: tuple[Receiver, str],
    secrets_seen: SecretsSeen,
) -> None:
    hooks, url = receiver
    webhook_secret = secrets_seen.add("whsec-" + secrets.token_hex(16))
    pk = await connector.connect(webhook_url=url, webhook_secret=webhook_secret)
    await hooks.wait_for(1)
    provider.refresh_failures = ["invalid_grant"]
    clock.advance(3500)
    await api.get(f"/tokens/validate/{pk}")
    await hooks.wait_for(2)
    events = []
    for headers, body in hooks.received:
        _check_signature(headers, body, webhook_secret)
        events.append(json.loads(body))
    assert [e["type"] for e in events] == ["connection.connected", "connection.broken"]
    assert all(e["client_id"] == pk for e in events)
    assert events[1]["data"] == {"error": "invalid_grant"}
    raw = b"".join(body for _, body in hooks.received).decode()
    for value in (*provider.issued_access_tokens, *provider.issued_refresh_tokens):
        assert value not in raw


async def test_a_refused_delivery_is_retried(
    connector: Connector,
    receiver: tuple[Receiver, str],
    secrets_seen: SecretsSeen,
) -> None:
    hooks, url = receiver
    hooks.failures = [503]
    webhook_secret = secrets_seen.add("whsec-" + secrets.token_hex(16))
    await connector.connect(webhook_url=url, webhook_secret=webhook_secret)
    await hooks.wait_for(2)
    first, second = (json.loads(body) for _, body in hooks.received[:2])
    assert first["id"] == second["id"]  # the same event, delivered again
    assert first["type"] == "connection.connected"


async def test_webhook_needs_a_secret(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/clients",
        json={
            "client_id": "c-" + secrets.token_hex(4),
            "client_secret": "x" * 12,
            "redirect_uri": "https://app.example/cb",
            "webhook_url": "https://hooks.example/in",
        },
    )
    assert response.status_code == 422


async def test_each_delivery_is_kept_with_its_attempts_and_the_receivers_answer(
    connector: Connector,
    receiver: tuple[Receiver, str],
    secrets_seen: SecretsSeen,
    database: Database,
) -> None:
    hooks, url = receiver
    hooks.failures = [503]
    webhook_secret = secrets_seen.add("whsec-" + secrets.token_hex(16))
    pk = await connector.connect(webhook_url=url, webhook_secret=webhook_secret)
    await hooks.wait_for(2)
    event_id = json.loads(hooks.received[0][1])["id"]
    query = text(
        "SELECT client_id, event_type, status, attempts, last_status_code, event"
        " FROM vault_webhook_deliveries WHERE event_id = :id"
    )
    row = None
    for _ in range(100):  # the retry's outcome is written after the receiver answered
        async with database.engine.connect() as conn:
            row = (await conn.execute(query, {"id": event_id})).one()
        if row.status == "delivered":
            break
        await asyncio.sleep(0.05)
    assert row is not None
    assert (row.client_id, row.event_type, row.status) == (pk, "connection.connected", "delivered")
    assert (row.attempts, row.last_status_code) == (2, 204)
    assert json.loads(row.event) == json.loads(hooks.received[0][1])  # kept as sent
    assert webhook_secret not in row.event


async def test_a_background_sweep_tells_the_owner_of_refreshed_and_broken_connections(
    connector: Connector,
    provider: FakeProvider,
    clock: FrozenClock,
    vault_app: FastAPI,
    receiver: tuple[Receiver, str],
    secrets_seen: SecretsSeen,
) -> None:
    """The sweep holds one connection for its batch (on SQLite, the pool's only one); the
    events of its refreshes, whose deliveries are recorded in the database, go out once it is
    let go, rather than wait for a connection the sweep itself holds."""
    hooks, url = receiver
    webhook_secret = secrets_seen.add("whsec-" + secrets.token_hex(16))
    pk = await connector.connect(webhook_url=url, webhook_secret=webhook_secret)
    await hooks.wait_for(1)
    jobs = vault_app.state.resources.get().jobs
    assert isinstance(jobs, InProcessJobs)
    sweep = jobs.specs["vault.refresh_sweep"]
    clock.advance(3000)  # inside the refresh window
    await sweep.run()
    await hooks.wait_for(2)
    provider.refresh_failures = ["invalid_grant"]
    clock.advance(3600)
    await sweep.run()
    await hooks.wait_for(3)
    told = [json.loads(body) for _, body in hooks.received]
    assert [e["type"] for e in told] == [
        "connection.connected", "connection.refreshed", "connection.broken",
    ]  # fmt: skip
    assert {e["client_id"] for e in told} == {pk}
