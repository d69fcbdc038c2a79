"""The Argon2id costs of ``oidc.accounts`` are the ones password hashes are made with."""

from __future__ import annotations

from tokend.oidc.settings import AccountSettings, password_hasher


async def test_the_configured_argon2_costs_are_the_ones_hashes_are_made_with() -> None:
    default = password_hasher(AccountSettings())
    assert (await default.hash("pw")).startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    chosen = AccountSettings(argon2_memory_kib=19_456, argon2_time_cost=2, argon2_parallelism=1)
    stored = await password_hasher(chosen).hash("pw")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert default.needs_rehash(stored)
    assert not password_hasher(chosen).needs_rehash(stored)
