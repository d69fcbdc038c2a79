"""``CachedClients``: a cached client is decoded once per cached entry, and a change is seen."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from tests.unit.oidc.conftest import a_client
from tests.unit.oidc.memory_stores import MemoryClients, MemoryDatabase
from tokend.cache.decoded import DecodedCopies
from tokend.cache.memory import MemoryCache
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock
from tokend.oidc.client_cache import CachedClients


def cached_clients(db: MemoryDatabase, clock: FrozenClock) -> CachedClients:
    cache = TieredCache(
        MemoryCache(1000, clock), None, registry=CollectorRegistry(), clock=clock,
        memory_ttl_s=5.0, retry_interval_s=1.0,
    )  # fmt: skip
    return CachedClients(MemoryClients(db), cache, ttl_s=30)


async def test_a_cached_client_is_decoded_once_and_a_change_is_decoded_afresh() -> None:
    clock = FrozenClock(datetime(2026, 12, 6, tzinfo=UTC))
    client = a_client()
    db = MemoryDatabase(clients={client.client_id: client})
    clients = cached_clients(db, clock)

    loaded = await clients.get(client.client_id)  # from the store, then cached
    first = await clients.get(client.client_id)  # decoded from the cache
    again = await clients.get(client.client_id)
    assert loaded == client == first
    assert again is first  # not decoded again while the cached entry is the same

    renamed = dataclasses.replace(client, name="Renamed")
    db.clients[client.client_id] = renamed
    await clients.forget(client.client_id)
    assert await clients.get(client.client_id) == renamed  # the store, after forget
    assert await clients.get(client.client_id) == renamed  # the new cached entry
    assert (await clients.get(client.client_id)) is not first

    del db.clients[client.client_id]
    await clients.forget(client.client_id)
    assert await clients.get(client.client_id) is None
    assert await clients.get(client.client_id) is None  # the cached "no such client"


async def test_the_decoded_copies_are_bounded() -> None:
    clock = FrozenClock(datetime(2026, 12, 6, tzinfo=UTC))
    base = a_client()
    ids = [f"client-{n}" for n in range(5)]
    db = MemoryDatabase(clients={i: dataclasses.replace(base, client_id=i) for i in ids})
    clients = cached_clients(db, clock)
    clients = dataclasses.replace(clients, decoded=DecodedCopies(clients.decoded.decode, 3))
    for client_id in ids * 3:
        client = await clients.get(client_id)
        assert client is not None
        assert client.client_id == client_id
        assert len(clients.decoded) <= 3


async def test_a_cached_entry_that_is_not_a_client_is_replaced_from_the_store() -> None:
    clock = FrozenClock(datetime(2026, 12, 6, tzinfo=UTC))
    client = a_client()
    clients = cached_clients(MemoryDatabase(clients={client.client_id: client}), clock)
    for foreign in (b"[1, 2]", b"not json", b"\xff"):
        await clients.cache.set(f"oidc:client:{client.client_id}", foreign, 60)
        assert await clients.get(client.client_id) == client
        assert await clients.get(client.client_id) == client  # the store's entry, cached again
