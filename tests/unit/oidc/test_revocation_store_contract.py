"""``RevocationStore``: one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id
from tokend.oidc.records import Revoked, RevokedKind


async def test_a_revocation_is_reported_until_it_expires(stores: Stores) -> None:
    jti, grant = Revoked(RevokedKind.JTI, random_id("j_")), Revoked(RevokedKind.GRANT, random_id())
    # The same value of another kind is another entry.
    same_value = Revoked(RevokedKind.GRANT, jti.value)
    until = NOW + timedelta(minutes=5)
    await stores.revocations.add(jti, until)
    await stores.revocations.add(grant, NOW + timedelta(minutes=1))
    assert await stores.revocations.revoked([jti, grant, same_value], NOW) == {
        jti: until,
        grant: NOW + timedelta(minutes=1),
    }
    assert await stores.revocations.revoked([jti, grant], until) == {}
    assert await stores.revocations.revoked([], NOW) == {}


async def test_purge_deletes_only_the_revocations_that_expired(stores: Stores) -> None:
    expired = Revoked(RevokedKind.JTI, random_id("j_"))
    at_the_edge = Revoked(RevokedKind.GRANT, random_id("g_"))
    live = Revoked(RevokedKind.JTI, random_id("j_"))
    await stores.revocations.add(expired, NOW - timedelta(seconds=1))
    await stores.revocations.add(at_the_edge, NOW)
    await stores.revocations.add(live, NOW + timedelta(seconds=1))
    assert await stores.revocations.purge(NOW) >= 2
    everything = [expired, at_the_edge, live]
    assert await stores.revocations.revoked(everything, NOW - timedelta(days=1)) == {
        live: NOW + timedelta(seconds=1)
    }


async def test_revoking_again_keeps_the_later_expiry(stores: Stores) -> None:
    entry = Revoked(RevokedKind.GRANT, random_id("g_"))
    await stores.revocations.add(entry, NOW + timedelta(hours=2))
    await stores.revocations.add(entry, NOW + timedelta(hours=1))
    assert await stores.revocations.revoked([entry], NOW) == {entry: NOW + timedelta(hours=2)}
    await stores.revocations.add(entry, NOW + timedelta(hours=3))
    assert await stores.revocations.revoked([entry], NOW) == {entry: NOW + timedelta(hours=3)}
    assert await stores.revocations.revoked([entry], NOW + timedelta(hours=3)) == {}
