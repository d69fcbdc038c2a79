"""The SQL stores' contracts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tokend.core.clock import FrozenClock
from tokend.core.crypto import random_id
from tokend.core.errors import Conflict
from tokend.oidc.domain import AuthorizationCode, RefreshToken, User
from tokend.oidc.sql import SqlCodes, SqlRefreshTokens, SqlRevocations, SqlUsers
from tokend.oidc.stores import Revoked, RevokedKind
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
    first = await codes.consume(code.code_hash, NOW)
    second = await codes.consume(code.code_hash, NOW)
    assert first is not None
    assert not first.was_used
    assert first.code.scopes == frozenset({"openid"})
    assert second is not None
    assert second.was_used
    assert await codes.consume("unknown", NOW) is None


async def test_concurrent_consumers_get_the_code_once(database: Database) -> None:
    codes = SqlCodes(database)
    code = a_code()
    await codes.save(code)
    results: list[bool] = []

    async def consume() -> None:
        consumed = await codes.consume(code.code_hash, NOW)
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
    with pytest.raises(Conflict, match="a user with this email already exists"):
        await users.add(
            User(id=random_id("u_"), email=email.lower(), email_verified=False, password_hash="y")
        )
    found = await users.by_email(email.upper())
    assert found is not None
    assert found.email == email


async def test_account_locks_at_the_threshold(database: Database) -> None:
    users = SqlUsers(database, FrozenClock(NOW))
    user = User(id=random_id("u_"), email=f"{random_id()}@x.org", email_verified=True,
                password_hash="x")  # fmt: skip
    await users.add(user)
    until = NOW + timedelta(minutes=15)
    locks = [await users.record_failure(user.id, lock_after=3, lock_until=until) for _ in range(3)]
    assert locks == [False, False, True]
    found = await users.by_id(user.id)
    assert found is not None
    assert found.locked_until == until


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
