"""``EmailLinkStore`` (one-time mail links): one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

import anyio

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id


async def test_a_mail_link_is_used_once_and_not_after_it_expired(stores: Stores) -> None:
    links = stores.email_links
    user_id, live, stale = random_id("u_"), random_id("h"), random_id("h")
    await links.add(live, "reset", user_id, NOW + timedelta(minutes=30))
    await links.add(stale, "reset", user_id, NOW - timedelta(seconds=1))
    assert await links.find([live], "verify", NOW) is None  # another kind of link
    assert await links.find(["other-pepper", live], "reset", NOW) == user_id
    used = [await links.use([live], "reset", NOW) for _ in range(2)]
    assert used == [user_id, None]
    assert await links.use([stale], "reset", NOW) is None
    assert await links.purge(NOW) >= 1
    await links.add(live, "reset", user_id, NOW + timedelta(minutes=30))
    await links.forget_user(user_id, "reset")
    assert await links.find([live], "reset", NOW) is None


async def test_forgetting_a_users_links_keeps_other_kinds_and_users(stores: Stores) -> None:
    links = stores.email_links
    user_id, other_user = random_id("u_"), random_id("u_")
    reset, verify, others = random_id("h"), random_id("h"), random_id("h")
    until = NOW + timedelta(minutes=30)
    await links.add(reset, "reset", user_id, until)
    await links.add(verify, "verify", user_id, until)
    await links.add(others, "reset", other_user, until)
    await links.forget_user(user_id, "reset")
    assert await links.find([reset], "reset", NOW) is None
    assert await links.find([verify], "verify", NOW) == user_id
    assert await links.find([others], "reset", NOW) == other_user


async def test_concurrent_uses_get_the_user_once(stores: Stores) -> None:
    link, user_id = random_id("h"), random_id("u_")
    await stores.email_links.add(link, "verify", user_id, NOW + timedelta(minutes=30))
    results: list[str | None] = []

    async def use() -> None:
        results.append(await stores.email_links.use([link], "verify", NOW))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(use)
    assert sorted(results, key=str) == [None, None, user_id]
