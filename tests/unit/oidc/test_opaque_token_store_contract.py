"""``OpaqueTokenStore``: one contract for every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from tests.unit.oidc.conftest import NOW, Stores, an_opaque_token
from tokend.core.crypto import random_id


async def test_an_opaque_token_is_found_by_any_of_its_hashes(stores: Stores) -> None:
    token, client_token = an_opaque_token(random_id("g_")), an_opaque_token(None, None)
    for each in (token, client_token):
        await stores.opaque.add(each)
    assert await stores.opaque.find([random_id("other-pepper"), token.token_hash]) == token
    assert await stores.opaque.find([client_token.token_hash]) == client_token
    assert await stores.opaque.find([random_id("h")]) is None


async def test_a_revoked_token_is_still_found_with_its_revocation(stores: Stores) -> None:
    token, other = an_opaque_token(random_id("g_")), an_opaque_token(random_id("g_"))
    for each in (token, other):
        await stores.opaque.add(each)
    await stores.opaque.revoke([random_id("other-pepper"), token.token_hash], NOW)
    assert await stores.opaque.find([token.token_hash]) == dataclasses.replace(
        token, revoked_at=NOW
    )
    assert await stores.opaque.find([other.token_hash]) == other
    await stores.opaque.revoke([random_id("h")], NOW + timedelta(seconds=1))  # nothing to revoke
