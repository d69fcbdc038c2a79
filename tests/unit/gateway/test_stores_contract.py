"""The ConsumerStore contract: one set of assertions for the in-memory fake and the SQL store
on SQLite and PostgreSQL, so the fake cannot drift from what production runs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.gateway.memory_consumers import MemoryConsumers
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.core.errors import Conflict
from tokend.gateway.consumers import new_credential
from tokend.gateway.records import ConsumerRecord
from tokend.gateway.sql import SqlConsumers
from tokend.gateway.stores import ConsumerStore
from tokend.store.engine import Database

# The SQL stores share the run's database: every test makes its own names and hashes.
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture(params=["memory", "sql"])
def store(request: pytest.FixtureRequest, database: Database, clock: FrozenClock) -> ConsumerStore:
    if request.param == "memory":
        return MemoryConsumers(clock)
    return SqlConsumers(database, FieldCipher.from_secrets("contract-" + "k" * 32), clock)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def mine(records: list[ConsumerRecord], *usernames: str) -> list[ConsumerRecord]:
    return [r for r in records if r.username in usernames]


async def test_a_created_consumer_is_found_by_its_api_key_hash_with_its_secret(
    store: ConsumerStore,
) -> None:
    credential = new_credential()
    username, key_hash = unique("alice"), unique("hash")
    record = await store.create(username, key_hash, credential)
    assert (record.consumer_id, record.username, record.key) == (
        credential.consumer_id,
        username,
        credential.key,
    )
    assert record.created_at == START
    assert not record.is_revoked
    found = await store.credential_by_key_hash(key_hash)
    assert found is not None
    assert (found.consumer_id, found.key, found.secret, found.username) == (
        credential.consumer_id,
        credential.key,
        credential.secret,
        username,
    )
    assert await store.credential_by_key_hash(unique("unknown")) is None


async def test_a_taken_username_or_api_key_hash_is_a_conflict(store: ConsumerStore) -> None:
    username, key_hash = unique("bob"), unique("hash")
    await store.create(username, key_hash, new_credential())
    with pytest.raises(Conflict):
        await store.create(username, unique("hash"), new_credential())
    with pytest.raises(Conflict):
        await store.create(unique("carol"), key_hash, new_credential())


async def test_a_revoked_consumer_keeps_its_first_revocation_and_its_key_stops_working(
    store: ConsumerStore, clock: FrozenClock
) -> None:
    credential, key_hash = new_credential(), unique("hash")
    await store.create(unique("dave"), key_hash, credential)
    clock.advance(60)
    revoked = await store.revoke(credential.consumer_id)
    assert revoked is not None
    assert revoked.revoked_at == START + timedelta(seconds=60)
    assert await store.credential_by_key_hash(key_hash) is None
    clock.advance(60)
    again = await store.revoke(credential.consumer_id)
    assert again is not None
    assert again.revoked_at == START + timedelta(seconds=60)
    assert await store.revoke(unique("no-such-id")) is None


async def test_set_api_key_creates_rekeys_and_unrevokes_a_declared_consumer(
    store: ConsumerStore,
) -> None:
    username, first_hash, second_hash = unique("erin"), unique("hash"), unique("hash")
    assert await store.set_api_key(username, first_hash, new_credential()) is True
    created = await store.credential_by_key_hash(first_hash)
    assert created is not None
    assert created.username == username
    assert await store.set_api_key(username, first_hash, new_credential()) is False
    assert await store.set_api_key(username, second_hash, new_credential()) is True
    assert await store.credential_by_key_hash(first_hash) is None
    rekeyed = await store.credential_by_key_hash(second_hash)
    assert rekeyed == created  # the same consumer and JWT credential, under its new key
    await store.revoke(created.consumer_id)
    assert await store.set_api_key(username, second_hash, new_credential()) is True
    assert await store.credential_by_key_hash(second_hash) == created


async def test_list_all_has_every_consumer_revoked_or_not_oldest_first(
    store: ConsumerStore, clock: FrozenClock
) -> None:
    older, newer = unique("frank"), unique("grace")
    first = await store.create(older, unique("hash"), new_credential())
    clock.advance(1)
    second = await store.create(newer, unique("hash"), new_credential())
    await store.revoke(first.consumer_id)
    listed = mine(await store.list_all(), older, newer)
    assert [r.username for r in listed] == [older, newer]
    assert listed[0].is_revoked
    assert listed[1] == second
