"""``UserRegistry`` (and ``UserStore``, ``UserAccounts``): one contract for every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.unit.oidc.conftest import NOW, Stores, a_user
from tokend.core.crypto import random_id
from tokend.core.errors import Conflict, NotFound
from tokend.oidc.records import Session


async def a_session(stores: Stores, user_id: str) -> str:
    """A live session of the user; its id hash."""
    id_hash = random_id("s")
    await stores.sessions.create(id_hash, Session(user_id, NOW, NOW + timedelta(hours=1)))
    return id_hash


async def test_a_user_is_found_by_id_and_by_email_in_any_case(stores: Stores) -> None:
    user = a_user()
    await stores.users.add(user)
    assert await stores.users.by_id(user.id) == user
    assert await stores.users.by_email(f"  {user.email.upper()} ") == user
    assert await stores.users.by_id(random_id("u_")) is None
    assert await stores.users.by_email(f"nobody.{random_id()}@example.org") is None


async def test_emails_are_unique_case_insensitively(stores: Stores) -> None:
    user = a_user()
    await stores.users.add(user)
    with pytest.raises(Conflict, match="a user with this email already exists"):
        await stores.users.add(dataclasses.replace(a_user(), email=user.email.lower()))
    other = a_user()
    await stores.users.add(other)
    with pytest.raises(Conflict, match="a user with this email already exists"):
        await stores.users.replace(dataclasses.replace(other, email=user.email.upper()))
    assert await stores.users.by_email(user.email) == user


async def test_replace_changes_a_known_user_only(stores: Stores) -> None:
    user = a_user()
    await stores.users.add(user)
    changed = dataclasses.replace(
        user, email=f"grace.{random_id()}@example.org", name=None, roles=(), disabled=True
    )
    await stores.users.replace(changed)
    assert await stores.users.by_id(user.id) == changed
    assert await stores.users.by_email(user.email) is None
    with pytest.raises(NotFound, match="no user"):
        await stores.users.replace(a_user())


async def test_a_new_password_ends_the_users_sessions_only(stores: Stores) -> None:
    user, other = a_user(), a_user()
    for each in (user, other):
        await stores.users.add(each)
    own, others = await a_session(stores, user.id), await a_session(stores, other.id)
    await stores.users.set_password(user.id, "new-argon2-hash")
    found = await stores.users.by_id(user.id)
    assert found == dataclasses.replace(user, password_hash="new-argon2-hash")
    assert await stores.sessions.get(own, NOW) is None
    assert await stores.sessions.get(others, NOW) is not None


async def test_mark_verified_says_whether_the_user_exists(stores: Stores) -> None:
    user = a_user()
    await stores.users.add(user)
    assert await stores.users.mark_verified(user.id)
    found = await stores.users.by_id(user.id)
    assert found is not None
    assert found.email_verified
    assert not await stores.users.mark_verified(random_id("u_"))


async def test_remove_ends_the_users_sessions_and_says_whether_it_existed(
    stores: Stores,
) -> None:
    user = a_user()
    await stores.users.add(user)
    session = await a_session(stores, user.id)
    assert await stores.users.remove(user.id)
    assert await stores.users.by_id(user.id) is None
    assert await stores.sessions.get(session, NOW) is None
    assert not await stores.users.remove(user.id)


async def test_all_lists_every_user_by_email(stores: Stores) -> None:
    marker = random_id()
    bea, al = (
        dataclasses.replace(a_user(), email=f"{name}.{marker}@example.org")
        for name in ("Bea", "al")
    )
    for user in (bea, al):
        await stores.users.add(user)
    assert [u for u in await stores.users.all() if marker in u.email] == [al, bea]
