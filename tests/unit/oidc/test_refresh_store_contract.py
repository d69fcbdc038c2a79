"""``RefreshStore``: one contract for every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import anyio

from tests.unit.oidc.conftest import NOW, Stores, a_code, a_refresh, a_user, an_opaque_token
from tokend.core.crypto import random_id
from tokend.oidc.records import RefreshInGrant, Rotation


async def test_a_refresh_token_is_found_by_its_hash(stores: Stores) -> None:
    token, token_hash = a_refresh(random_id("g_")), random_id("h")
    await stores.refresh.save(token, token_hash)
    assert await stores.refresh.find(token_hash) == token
    assert await stores.refresh.find(random_id("h")) is None


async def test_a_rotation_marks_the_old_token_and_saves_its_successor(stores: Stores) -> None:
    old, old_hash = a_refresh(random_id("g_")), random_id("h")
    successor, successor_hash = a_refresh(old.grant_id), random_id("h")
    await stores.refresh.save(old, old_hash)
    rotated = await stores.refresh.rotate(old, successor, successor_hash, "sealed", NOW)
    assert rotated == Rotation(won=True)
    assert await stores.refresh.find(old_hash) == dataclasses.replace(old, rotated_at=NOW)
    assert await stores.refresh.find(successor_hash) == successor
    later = NOW + timedelta(seconds=5)
    again = await stores.refresh.rotate(old, a_refresh(old.grant_id), random_id("h"), None, later)
    assert again == Rotation(won=False, rotated_at=NOW, successor_enc="sealed")


async def test_only_one_concurrent_rotation_wins(stores: Stores) -> None:
    old = a_refresh(random_id("g_"))
    await stores.refresh.save(old, random_id("hash"))
    outcomes: list[Rotation] = []

    async def rotate(i: int) -> None:
        successor = a_refresh(old.grant_id)
        outcomes.append(
            await stores.refresh.rotate(old, successor, random_id(f"h{i}"), f"enc{i}", NOW)
        )

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(rotate, i)
    winners = [o for o in outcomes if o.won]
    assert len(winners) == 1
    losers = [o for o in outcomes if not o.won]
    assert all(o.rotated_at == NOW and o.successor_enc is not None for o in losers)


async def test_revoking_a_grant_revokes_its_refresh_and_opaque_tokens(stores: Stores) -> None:
    grant_id, other_grant = random_id("g_"), random_id("g_")
    hashes = [random_id("h") for _ in range(2)]
    for token_hash in hashes:
        await stores.refresh.save(a_refresh(grant_id), token_hash)
    other, other_hash = a_refresh(other_grant), random_id("h")
    await stores.refresh.save(other, other_hash)
    opaque, other_opaque = an_opaque_token(grant_id), an_opaque_token(other_grant)
    for token in (opaque, other_opaque):
        await stores.opaque.add(token)
    assert await stores.refresh.revoke_grant(grant_id, NOW) == 2
    for token_hash in hashes:
        found = await stores.refresh.find(token_hash)
        assert found is not None
        assert found.revoked_at == NOW
    revoked = await stores.opaque.find([opaque.token_hash])
    assert revoked is not None
    assert revoked.revoked_at == NOW
    assert await stores.refresh.find(other_hash) == other
    assert await stores.opaque.find([other_opaque.token_hash]) == other_opaque
    assert await stores.refresh.revoke_grant(grant_id, NOW + timedelta(seconds=1)) == 0


async def test_a_revoked_token_loses_its_rotation_and_its_kept_successor(stores: Stores) -> None:
    old = a_refresh(random_id("g_"))
    await stores.refresh.save(old, random_id("h"))
    first = await stores.refresh.rotate(old, a_refresh(old.grant_id), random_id("h"), "enc", NOW)
    assert first.won
    await stores.refresh.revoke_grant(old.grant_id, NOW)
    lost = await stores.refresh.rotate(old, a_refresh(old.grant_id), random_id("h"), "x", NOW)
    assert lost == Rotation(won=False, rotated_at=NOW, successor_enc=None)
    unknown = a_refresh(random_id("g_"))
    successor = a_refresh(unknown.grant_id)
    assert await stores.refresh.rotate(unknown, successor, random_id("h"), None, NOW) == Rotation(
        won=False
    )
    assert await stores.refresh.find(random_id("h")) is None


async def test_the_grants_of_a_user_are_those_that_may_hold_a_live_token(stores: Stores) -> None:
    user_id = random_id("u_")
    redeemed, old, unused = (a_code(user_id) for _ in range(3))
    for code in (redeemed, old, unused):
        await stores.codes.save(code)
    await stores.codes.consume(redeemed.code_hash, redeemed.client_id, NOW)
    await stores.codes.consume(old.code_hash, old.client_id, NOW - timedelta(days=2))
    live, revoked, expired = (a_refresh(random_id("g_"), user_id) for _ in range(3))
    for token in (live, revoked):
        await stores.refresh.save(token, random_id("h"))
    await stores.refresh.save(dataclasses.replace(expired, expires_at=NOW), random_id("h"))
    await stores.refresh.revoke_grant(revoked.grant_id, NOW)
    opaque, client_token = an_opaque_token(random_id("g_"), user_id), an_opaque_token(None, None)
    stale = dataclasses.replace(an_opaque_token(random_id("g_"), user_id), expires_at=NOW)
    for access_token in (opaque, client_token, stale):
        await stores.opaque.add(access_token)
    since = NOW - timedelta(days=1)
    assert await stores.refresh.grants_of(user_id, since, NOW) == {
        redeemed.grant_id,
        live.grant_id,
        opaque.grant_id,
    }
    assert await stores.refresh.grants_of(random_id("u_"), since, NOW) == set()


async def test_a_token_is_found_with_its_user_consent_and_kept_claims(stores: Stores) -> None:
    user = a_user()
    await stores.users.add(user)
    token, token_hash = a_refresh(random_id("g_"), user_id=user.id), random_id("h")
    await stores.refresh.save(token, token_hash)
    # Nothing remembered yet: no consent, no claims.
    assert await stores.refresh.find_in_grant(token_hash) == RefreshInGrant(
        token, user, frozenset(), None
    )
    await stores.consents.grant(user.id, token.client_id, frozenset({"openid", "email"}), NOW)
    # Another client's consent is not this token's.
    await stores.consents.grant(user.id, random_id("c_"), frozenset({"profile"}), NOW)
    until = NOW + timedelta(hours=1)
    await stores.grant_claims.save(token.grant_id, token.client_id, ("email",), until)
    assert await stores.refresh.find_in_grant(token_hash) == RefreshInGrant(
        token, user, frozenset({"openid", "email"}), until
    )
    assert await stores.refresh.find_in_grant(random_id("h")) is None


async def test_a_token_of_a_deleted_user_is_found_without_one(stores: Stores) -> None:
    token, token_hash = a_refresh(random_id("g_"), user_id=random_id("u_")), random_id("h")
    await stores.refresh.save(token, token_hash)
    found = await stores.refresh.find_in_grant(token_hash)
    assert found is not None
    assert (found.token, found.user) == (token, None)


async def test_the_winning_rotation_alone_extends_the_grants_claims(stores: Stores) -> None:
    old = a_refresh(random_id("g_"))
    await stores.refresh.save(old, random_id("h"))
    client_id, soon = old.client_id, NOW + timedelta(minutes=1)
    await stores.grant_claims.save(old.grant_id, client_id, ("email",), soon)
    later, latest = NOW + timedelta(days=1), NOW + timedelta(days=2)
    rotated = await stores.refresh.rotate(old, a_refresh(old.grant_id), random_id("h"), None,
                                          NOW, claims_until=later)  # fmt: skip
    assert rotated.won
    assert await stores.grant_claims.userinfo(
        old.grant_id, client_id, later - timedelta(seconds=1)
    ) == ("email",)
    assert await stores.grant_claims.userinfo(old.grant_id, client_id, later) == ()
    # The loser of a race (or a reuse) changes nothing.
    lost = await stores.refresh.rotate(old, a_refresh(old.grant_id), random_id("h"), None,
                                       NOW, claims_until=latest)  # fmt: skip
    assert not lost.won
    assert await stores.grant_claims.userinfo(old.grant_id, client_id, later) == ()
