"""``GrantClaimsStore``: one contract for every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores
from tokend.core.crypto import random_id

LATER = NOW + timedelta(minutes=10)


async def test_claims_are_kept_per_grant_for_the_client_that_asked(stores: Stores) -> None:
    grant_id, client_id = random_id("g_"), random_id("c_")
    await stores.grant_claims.save(grant_id, client_id, ("email", "phone_number"), LATER)
    assert await stores.grant_claims.userinfo(grant_id, client_id, NOW) == (
        "email",
        "phone_number",
    )
    # A token of the grant exchanged for another client (RFC 8693) gets none of them.
    assert await stores.grant_claims.userinfo(grant_id, random_id("c_"), NOW) == ()
    assert await stores.grant_claims.userinfo(random_id("g_"), client_id, NOW) == ()


async def test_claims_expire_unless_extended_and_are_never_shortened(stores: Stores) -> None:
    grant_id, client_id = random_id("g_"), random_id("c_")
    await stores.grant_claims.save(grant_id, client_id, ("address",), LATER)
    assert await stores.grant_claims.userinfo(grant_id, client_id, LATER) == ()
    await stores.grant_claims.extend(grant_id, LATER + timedelta(hours=1))
    await stores.grant_claims.extend(grant_id, NOW)  # earlier: no effect
    assert await stores.grant_claims.userinfo(grant_id, client_id, LATER) == ("address",)
    await stores.grant_claims.extend(random_id("g_"), LATER)  # none kept: nothing
    purged = await stores.grant_claims.purge(LATER + timedelta(hours=1))
    assert purged >= 1
    assert await stores.grant_claims.userinfo(grant_id, client_id, NOW) == ()
