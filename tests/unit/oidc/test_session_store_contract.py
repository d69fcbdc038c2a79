"""``SessionStore``: one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id
from tokend.oidc.records import Session


async def test_a_session_lives_until_it_expires_or_ends(stores: Stores) -> None:
    id_hash, other_hash = random_id("s"), random_id("s")
    session = Session(random_id("u_"), NOW, NOW + timedelta(hours=1))
    await stores.sessions.create(id_hash, session)
    await stores.sessions.create(other_hash, session)
    assert await stores.sessions.get(id_hash, NOW) == session
    assert await stores.sessions.get(id_hash, session.expires_at) is None
    await stores.sessions.end(id_hash)
    assert await stores.sessions.get(id_hash, NOW) is None
    assert await stores.sessions.get(other_hash, NOW) == session
    await stores.sessions.end(id_hash)  # ending it again changes nothing
    assert await stores.sessions.get(random_id("s"), NOW) is None
