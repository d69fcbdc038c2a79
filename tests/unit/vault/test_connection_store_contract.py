"""``NewConnections``, ``ConnectionReads``, ``ConnectionWrites`` and ``DueConnections``
(tokend.vault.stores): one contract for every backend.

The backend's database may hold earlier tests' connections: claims and counts are checked on
this test's own rows, and as differences.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from tests.unit.vault.conftest import Stores, registered
from tokend.vault.errors import ClientNotFound
from tokend.vault.provider_client import TokenSet
from tokend.vault.records import ConnectionStatus, TokenRecord
from tokend.vault.schemas import MAX_ID

LEASE_S = 60.0


def tokens(expires_in_s: int | None = 3600, *, refresh: bool = True) -> TokenSet:
    return TokenSet(
        access_token="at-" + secrets.token_hex(8),
        refresh_token="rt-" + secrets.token_hex(8) if refresh else None,
        token_type="Bearer",
        scope="profile email",
        expires_in_s=expires_in_s,
    )


async def connected(stores: Stores, issued: TokenSet | None = None) -> TokenRecord:
    client = await registered(stores)
    return await stores.connections.store_connection(client.id, issued or tokens())


async def claimed_ids(stores: Stores, before_s: float) -> set[int]:
    before = stores.clock.now() + timedelta(seconds=before_s)
    due = await stores.connections.claim_due(before, 10_000, LEASE_S)
    return {item.token_id for item in due}


async def test_a_stored_connection_is_the_clients_current_token(stores: Stores) -> None:
    client = await registered(stores)
    issued = tokens(3600)
    token = await stores.connections.store_connection(client.id, issued)
    assert token.client_pk == client.id
    assert (token.access_token, token.refresh_token, token.token_type, token.scope) == (
        issued.access_token,
        issued.refresh_token,
        "Bearer",
        "profile email",
    )
    assert token.expires_at == stores.clock.now() + timedelta(seconds=3600)
    assert (token.status, token.generation, token.failure_count) == (ConnectionStatus.ACTIVE, 1, 0)
    assert (token.last_error, token.last_refreshed_at) == (None, None)
    assert await stores.connections.current_token(client.id) == token
    assert await stores.connections.connection(client.id) == (client, token)


async def test_a_token_without_expiry_or_refresh_token_is_stored_so(stores: Stores) -> None:
    token = await connected(stores, tokens(None, refresh=False))
    assert (token.expires_at, token.refresh_token) == (None, None)
    assert await stores.connections.current_token(token.client_pk) == token


async def test_a_new_connection_supersedes_the_previous_one(stores: Stores) -> None:
    first = await connected(stores)
    before = await stores.connections.count_by_status()
    second = await stores.connections.store_connection(first.client_pk, tokens())
    assert await stores.connections.current_token(first.client_pk) == second
    after = await stores.connections.count_by_status()
    assert after.get("superseded", 0) - before.get("superseded", 0) == 1
    assert after.get("active", 0) == before.get("active", 0)
    # The superseded token's generation moved: a refresher holding it writes nothing.
    assert await stores.connections.save_refreshed(first, tokens()) is None
    assert await stores.connections.current_token(first.client_pk) == second


async def test_connections_read_clients_with_or_without_a_token(stores: Stores) -> None:
    bare = await registered(stores)
    token = await connected(stores)
    client = await stores.clients.client(token.client_pk)
    assert await stores.connections.connection(bare.id) == (bare, None)
    assert await stores.connections.current_token(bare.id) is None
    with pytest.raises(ClientNotFound):
        await stores.connections.connection(MAX_ID)
    found = await stores.connections.connections([bare.id, token.client_pk, MAX_ID])
    assert found == {bare.id: (bare, None), token.client_pk: (client, token)}


async def test_a_refresh_is_saved_keeping_the_refresh_token_when_none_came(
    stores: Stores,
) -> None:
    current = await connected(stores)
    stores.clock.advance(100)
    renewed = TokenSet("at-" + secrets.token_hex(8), None, "Bearer", None, 1800)
    saved = await stores.connections.save_refreshed(current, renewed)
    assert saved is not None
    now = stores.clock.now()
    assert (saved.access_token, saved.refresh_token, saved.scope) == (
        renewed.access_token,
        current.refresh_token,
        current.scope,
    )
    assert saved.expires_at == now + timedelta(seconds=1800)
    assert (saved.generation, saved.status, saved.last_refreshed_at, saved.updated_at) == (
        current.generation + 1,
        ConnectionStatus.ACTIVE,
        now,
        now,
    )
    assert await stores.connections.current_token(current.client_pk) == saved
    rotated = tokens()
    again = await stores.connections.save_refreshed(saved, rotated)
    assert again is not None
    assert again.refresh_token == rotated.refresh_token
    assert await stores.connections.current_token(current.client_pk) == again


async def test_writes_from_a_stale_read_are_refused(stores: Stores) -> None:
    current = await connected(stores)
    saved = await stores.connections.save_refreshed(current, tokens())
    assert saved is not None
    later = stores.clock.now() + timedelta(seconds=30)
    assert await stores.connections.save_refreshed(current, tokens()) is None
    assert await stores.connections.record_failure(current, "boom", later, exhausted=False) is None
    assert await stores.connections.mark(current, ConnectionStatus.BROKEN, "invalid_grant") is None
    assert await stores.connections.current_token(current.client_pk) == saved


async def test_a_transient_failure_is_counted_and_backs_off(stores: Stores) -> None:
    current = await connected(stores, tokens(30))
    assert current.id in await claimed_ids(stores, 600)
    retry_at = stores.clock.now() + timedelta(seconds=3 * LEASE_S)
    failed = await stores.connections.record_failure(
        current, "provider unavailable", retry_at, exhausted=False
    )
    assert failed is not None
    assert (failed.failure_count, failed.last_error, failed.status) == (
        1,
        "provider unavailable",
        ConnectionStatus.ACTIVE,
    )
    assert failed.generation == current.generation + 1
    assert (failed.access_token, failed.refresh_token) == (
        current.access_token,
        current.refresh_token,
    )
    assert await stores.connections.current_token(current.client_pk) == failed
    stores.clock.advance(2 * LEASE_S)  # past the claim's lease, not past the backoff
    assert current.id not in await claimed_ids(stores, 600)
    stores.clock.advance(LEASE_S)
    assert current.id in await claimed_ids(stores, 600)


async def test_too_many_failures_exhaust_the_connection(stores: Stores) -> None:
    current = await connected(stores, tokens(30))
    exhausted = await stores.connections.record_failure(
        current, "timeout", stores.clock.now(), exhausted=True
    )
    assert exhausted is not None
    assert exhausted.status is ConnectionStatus.REFRESH_EXHAUSTED
    assert exhausted.is_usable
    assert current.id not in await claimed_ids(stores, 600)


@pytest.mark.parametrize("status", [ConnectionStatus.BROKEN, ConnectionStatus.REVOKED])
async def test_a_marked_connection_is_never_handed_out_nor_claimed(
    stores: Stores, status: ConnectionStatus
) -> None:
    current = await connected(stores, tokens(30))
    marked = await stores.connections.mark(current, status, "invalid_grant")
    assert marked is not None
    assert (marked.status, marked.last_error, marked.generation) == (
        status,
        "invalid_grant",
        current.generation + 1,
    )
    assert not marked.is_usable
    assert await stores.connections.current_token(current.client_pk) == marked
    assert current.id not in await claimed_ids(stores, 600)


async def test_due_connections_are_claimed_once_per_lease(stores: Stores) -> None:
    due = await connected(stores, tokens(30))
    later = await connected(stores, tokens(3600))
    without_refresh = await connected(stores, tokens(30, refresh=False))
    without_expiry = await connected(stores, tokens(None))
    before = stores.clock.now() + timedelta(seconds=600)
    claims = await stores.connections.claim_due(before, 10_000, LEASE_S)
    mine = [item for item in claims if item.client_pk == due.client_pk]
    assert [(item.token_id, item.generation) for item in mine] == [(due.id, due.generation)]
    ids = {item.token_id for item in claims}
    assert not ids & {later.id, without_refresh.id, without_expiry.id}
    assert due.id not in await claimed_ids(stores, 600)  # leased to the first claim
    stores.clock.advance(LEASE_S + 1)  # the claimer crashed: the lease runs out
    assert due.id in await claimed_ids(stores, 600)


async def test_claims_take_the_soonest_expiring_first(stores: Stores) -> None:
    # Claimed alone, before anything else the database holds expires.
    stores.clock.advance(-3600 * 24 * 365)
    soon = await connected(stores, tokens(10))
    sooner = await connected(stores, tokens(5))
    before = stores.clock.now() + timedelta(seconds=600)
    claims = await stores.connections.claim_due(before, 1, LEASE_S)
    assert [item.token_id for item in claims] == [sooner.id]
    claims = await stores.connections.claim_due(before, 1, LEASE_S)
    assert [item.token_id for item in claims] == [soon.id]


async def test_statuses_are_counted(stores: Stores) -> None:
    before = await stores.connections.count_by_status()
    current = await connected(stores)
    await connected(stores)
    await stores.connections.mark(current, ConnectionStatus.REVOKED, None)
    after = await stores.connections.count_by_status()
    assert after.get("active", 0) - before.get("active", 0) == 1
    assert after.get("revoked", 0) - before.get("revoked", 0) == 1


async def test_a_pinned_store_reads_and_writes_like_the_store(stores: Stores) -> None:
    current = await connected(stores)
    async with stores.connections.pinned() as pinned:
        client, token = await pinned.connection(current.client_pk)
        assert token == current
        saved = await pinned.save_refreshed(current, tokens())
        assert saved is not None
        assert (await pinned.connections([client.id]))[client.id] == (client, saved)
    assert await stores.connections.current_token(current.client_pk) == saved
