"""The SQL stores' contracts, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tokend.core.clock import FrozenClock
from tokend.core.crypto import random_id
from tokend.core.errors import Conflict
from tokend.oidc.records import AuthorizationCode, RefreshToken, Revoked, RevokedKind, User
from tokend.oidc.sql import (
    SqlCodes,
    SqlEmailLinks,
    SqlInteractions,
    SqlRefreshTokens,
    SqlRevocations,
    SqlUsers,
)
from tokend.store.engine import Database

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_code() -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=random_id("h"),
        grant_id=random_id("g_"),
        client_id="c1",
        user_id="u1",
        redirect_uri="https://rp.example/cb",
        scopes=frozenset({"openid"}),
        nonce="n",
        code_challenge=None,
        code_challenge_method=None,
        auth_time=NOW,
        acr=None,
        expires_at=NOW + timedelta(seconds=60),
    )


def a_refresh(grant_id: str) -> RefreshToken:
    return RefreshToken(
        id=random_id("rt_"),
        grant_id=grant_id,
        client_id="c1",
        user_id="u1",
        scopes=frozenset({"openid", "offline_access"}),
        auth_time=NOW,
        acr=None,
        expires_at=NOW + timedelta(days=1),
    )


async def test_code_can_be_consumed_only_once(database: Database) -> None:
    codes = SqlCodes(database)
    code = a_code()
    await codes.save(code)
    first = await codes.consume(code.code_hash, code.client_id, NOW)
    second = await codes.consume(code.code_hash, code.client_id, NOW)
    assert first is not None
    assert not first.was_used
    assert first.code.scopes == frozenset({"openid"})
    assert second is not None
    assert second.was_used
    assert await codes.consume("unknown", code.client_id, NOW) is None


async def test_a_code_presented_by_another_client_is_left_unused(database: Database) -> None:
    codes = SqlCodes(database)
    code = a_code()
    await codes.save(code)
    assert await codes.consume(code.code_hash, "another-client", NOW) is None
    own = await codes.consume(code.code_hash, code.client_id, NOW)
    assert own is not None
    assert not own.was_used
    assert await codes.consume(code.code_hash, "another-client", NOW) is None


async def test_concurrent_consumers_get_the_code_once(database: Database) -> None:
    codes = SqlCodes(database)
    code = a_code()
    await codes.save(code)
    results: list[bool] = []

    async def consume() -> None:
        consumed = await codes.consume(code.code_hash, code.client_id, NOW)
        assert consumed is not None
        results.append(consumed.was_used)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(consume)
    assert sorted(results) == [False, True, True, True]


async def test_only_one_concurrent_rotation_wins(database: Database) -> None:
    store = SqlRefreshTokens(database)
    old = a_refresh(random_id("g_"))
    await store.save(old, random_id("hash"))
    outcomes = []

    async def rotate(i: int) -> None:
        successor = a_refresh(old.grant_id)
        outcomes.append(await store.rotate(old, successor, random_id(f"h{i}"), f"enc{i}", NOW))

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(rotate, i)
    winners = [o for o in outcomes if o.won]
    assert len(winners) == 1
    losers = [o for o in outcomes if not o.won]
    assert all(o.rotated_at == NOW and o.successor_enc is not None for o in losers)


async def test_the_grants_of_a_user_are_those_that_may_hold_a_live_token(
    database: Database,
) -> None:
    codes, refresh = SqlCodes(database), SqlRefreshTokens(database)
    user_id = random_id("u_")
    redeemed, old, unused = (replace(a_code(), user_id=user_id) for _ in range(3))
    for code in (redeemed, old, unused):
        await codes.save(code)
    await codes.consume(redeemed.code_hash, redeemed.client_id, NOW)
    await codes.consume(old.code_hash, old.client_id, NOW - timedelta(days=2))
    live, revoked = (replace(a_refresh(random_id("g_")), user_id=user_id) for _ in range(2))
    for token in (live, revoked):
        await refresh.save(token, random_id("h"))
    await refresh.revoke_grant(revoked.grant_id, NOW)
    since = NOW - timedelta(days=1)
    assert await refresh.grants_of(user_id, since, NOW) == {redeemed.grant_id, live.grant_id}
    assert await refresh.grants_of(random_id("u_"), since, NOW) == set()


async def test_revoking_a_grant_revokes_every_token_of_it(database: Database) -> None:
    store = SqlRefreshTokens(database)
    grant_id = random_id("g_")
    hashes = [random_id("h") for _ in range(2)]
    for token_hash in hashes:
        await store.save(a_refresh(grant_id), token_hash)
    assert await store.revoke_grant(grant_id, NOW) == 2
    for token_hash in hashes:
        found = await store.find(token_hash)
        assert found is not None
        assert found.revoked_at == NOW


async def test_emails_are_unique_case_insensitively(database: Database) -> None:
    users = SqlUsers(database, FrozenClock(NOW))
    email = f"Grace.{random_id()}@Example.org"
    await users.add(User(id=random_id("u_"), email=email, email_verified=False, password_hash="x"))
    with pytest.raises(Conflict):
        await users.add(
            User(id=random_id("u_"), email=email.lower(), email_verified=False, password_hash="y")
        )
    found = await users.by_email(email.upper())
    assert found is not None
    assert found.email == email


async def test_purge_deletes_only_the_revocations_that_expired(database: Database) -> None:
    revocations = SqlRevocations(database)
    expired = Revoked(RevokedKind.JTI, random_id("j_"))
    at_the_edge = Revoked(RevokedKind.GRANT, random_id("g_"))
    live = Revoked(RevokedKind.JTI, random_id("j_"))
    await revocations.add(expired, NOW - timedelta(seconds=1))
    await revocations.add(at_the_edge, NOW)
    await revocations.add(live, NOW + timedelta(seconds=1))
    assert await revocations.purge(NOW) >= 2
    everything = [expired, at_the_edge, live]
    assert await revocations.revoked(everything, NOW - timedelta(days=1)) == {
        live: NOW + timedelta(seconds=1)
    }


async def test_revoking_again_keeps_the_later_expiry(database: Database) -> None:
    revocations = SqlRevocations(database)
    entry = Revoked(RevokedKind.GRANT, random_id("g_"))
    await revocations.add(entry, NOW + timedelta(hours=2))
    await revocations.add(entry, NOW + timedelta(hours=1))
    assert await revocations.revoked([entry], NOW) == {entry: NOW + timedelta(hours=2)}
    await revocations.add(entry, NOW + timedelta(hours=3))
    assert await revocations.revoked([entry], NOW) == {entry: NOW + timedelta(hours=3)}
    assert await revocations.revoked([entry], NOW + timedelta(hours=3)) == {}


async def test_a_mail_link_is_used_once_and_not_after_it_expired(database: Database) -> None:
    links = SqlEmailLinks(database)
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


async def test_an_interaction_is_replaced_on_save_and_gone_once_expired(
    database: Database,
) -> None:
    interactions = SqlInteractions(database)
    uid = random_id()
    await interactions.save(uid, {"step": 1}, NOW + timedelta(minutes=10))
    await interactions.save(uid, {"step": 2}, NOW + timedelta(minutes=10))
    assert await interactions.load(uid, NOW) == {"step": 2}
    assert await interactions.load(uid, NOW + timedelta(minutes=10)) is None
    assert await interactions.purge(NOW + timedelta(minutes=10)) >= 1
    assert await interactions.load(uid, NOW) is None
    await interactions.save(uid, {"step": 3}, NOW + timedelta(minutes=10))
    await interactions.delete(uid)
    assert await interactions.load(uid, NOW) is None
