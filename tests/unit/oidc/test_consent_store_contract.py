"""``ConsentStore``: one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id


async def test_consents_add_up_per_user_and_client(stores: Stores) -> None:
    user_id, client_id, other_client = random_id("u_"), random_id("c_"), random_id("c_")
    assert await stores.consents.granted(user_id, client_id) == frozenset()
    await stores.consents.grant(user_id, client_id, frozenset({"openid", "profile"}), NOW)
    later = NOW + timedelta(minutes=1)
    await stores.consents.grant(user_id, client_id, frozenset({"openid", "email"}), later)
    await stores.consents.grant(user_id, other_client, frozenset({"offline_access"}), later)
    assert await stores.consents.granted(user_id, client_id) == {"openid", "profile", "email"}
    assert await stores.consents.granted(user_id, other_client) == {"offline_access"}
    assert await stores.consents.granted(random_id("u_"), client_id) == frozenset()
