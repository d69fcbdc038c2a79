"""``OAuthStates`` (tokend.vault.stores): one contract for every backend."""

from __future__ import annotations

import secrets

import anyio

from tests.unit.vault.conftest import Stores, registered
from tokend.vault.records import ConsumedState

TTL_S = 600.0


def a_hash() -> str:
    return "state-" + secrets.token_hex(12)


async def test_a_state_is_consumed_once(stores: Stores) -> None:
    client = await registered(stores)
    state_hash, verifier = a_hash(), secrets.token_urlsafe(48)
    await stores.states.save_state(client.id, state_hash, verifier, TTL_S)
    assert await stores.states.consume_state([state_hash]) == ConsumedState(client.id, verifier)
    assert await stores.states.consume_state([state_hash]) is None


async def test_a_state_without_pkce_has_no_verifier(stores: Stores) -> None:
    client = await registered(stores)
    state_hash = a_hash()
    await stores.states.save_state(client.id, state_hash, None, TTL_S)
    assert await stores.states.consume_state([state_hash]) == ConsumedState(client.id, None)


async def test_any_of_the_candidate_hashes_finds_the_state(stores: Stores) -> None:
    """A state hashed under the current pepper or a former one (key rotation)."""
    client = await registered(stores)
    state_hash = a_hash()
    await stores.states.save_state(client.id, state_hash, None, TTL_S)
    consumed = await stores.states.consume_state([a_hash(), state_hash], "access_denied")
    assert consumed == ConsumedState(client.id, None)
    assert await stores.states.consume_state([state_hash]) is None


async def test_an_expired_or_unknown_state_is_not_consumed(stores: Stores) -> None:
    client = await registered(stores)
    state_hash = a_hash()
    await stores.states.save_state(client.id, state_hash, None, TTL_S)
    stores.clock.advance(TTL_S)
    assert await stores.states.consume_state([state_hash]) is None
    assert await stores.states.consume_state([a_hash()]) is None
    assert await stores.states.consume_state([]) is None


async def test_of_concurrent_callbacks_with_one_state_one_gets_it(stores: Stores) -> None:
    client = await registered(stores)
    state_hash = a_hash()
    await stores.states.save_state(client.id, state_hash, None, TTL_S)
    results: list[ConsumedState | None] = []

    async def consume() -> None:
        results.append(await stores.states.consume_state([state_hash]))

    async with anyio.create_task_group() as tasks:
        for _ in range(4):
            tasks.start_soon(consume)
    assert sorted(results, key=lambda r: r is None) == [ConsumedState(client.id, None)] + [None] * 3
