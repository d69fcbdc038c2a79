"""``CodeStore``: one contract for every backend."""

from __future__ import annotations

import anyio

from tests.unit.oidc.conftest import NOW, Stores, a_code


async def test_a_code_can_be_consumed_only_once(stores: Stores) -> None:
    code = a_code()
    await stores.codes.save(code)
    first = await stores.codes.consume(code.code_hash, code.client_id, NOW)
    second = await stores.codes.consume(code.code_hash, code.client_id, NOW)
    assert first is not None
    assert not first.was_used
    assert first.code == code
    assert second is not None
    assert second.was_used
    assert await stores.codes.consume("unknown", code.client_id, NOW) is None


async def test_a_code_presented_by_another_client_is_left_unused(stores: Stores) -> None:
    code = a_code()
    await stores.codes.save(code)
    assert await stores.codes.consume(code.code_hash, "another-client", NOW) is None
    own = await stores.codes.consume(code.code_hash, code.client_id, NOW)
    assert own is not None
    assert not own.was_used
    assert await stores.codes.consume(code.code_hash, "another-client", NOW) is None


async def test_concurrent_consumers_get_the_code_once(stores: Stores) -> None:
    code = a_code()
    await stores.codes.save(code)
    results: list[bool] = []

    async def consume() -> None:
        consumed = await stores.codes.consume(code.code_hash, code.client_id, NOW)
        assert consumed is not None
        results.append(consumed.was_used)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(consume)
    assert sorted(results) == [False, True, True, True]
