"""``InteractionStore`` (pending sign-ins): one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id


async def test_an_interaction_is_replaced_on_save_and_gone_once_expired(stores: Stores) -> None:
    interactions = stores.interactions
    uid = random_id()
    await interactions.save(uid, {"step": 1}, NOW + timedelta(minutes=10))
    await interactions.save(uid, {"step": 2, "scopes": ["openid"]}, NOW + timedelta(minutes=10))
    assert await interactions.load(uid, NOW) == {"step": 2, "scopes": ["openid"]}
    assert await interactions.load(uid, NOW + timedelta(minutes=10)) is None
    assert await interactions.purge(NOW + timedelta(minutes=10)) >= 1
    assert await interactions.load(uid, NOW) is None
    await interactions.save(uid, {"step": 3}, NOW + timedelta(minutes=10))
    await interactions.delete(uid)
    assert await interactions.load(uid, NOW) is None


async def test_what_a_caller_does_with_a_loaded_interaction_is_not_saved(stores: Stores) -> None:
    uid = random_id()
    await stores.interactions.save(uid, {"scopes": ["openid"]}, NOW + timedelta(minutes=10))
    loaded = await stores.interactions.load(uid, NOW)
    assert loaded is not None
    loaded["scopes"] = ["profile"]
    assert await stores.interactions.load(uid, NOW) == {"scopes": ["openid"]}
