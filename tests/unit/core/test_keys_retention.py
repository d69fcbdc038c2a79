"""Retired keys leave the keyring once retired longer than the retention, on every replica."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tests.secrets_seen import SecretsSeen
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.core.jwt import SigningKey, UntrustedToken, mint, verify
from tokend.core.keys import SIGNING_ALGORITHMS, Keyring, KeyState
from tokend.core.settings import KeysSettings
from tokend.store.engine import Database

RETENTION = timedelta(hours=25)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def _token(key: SigningKey, clock: FrozenClock, secrets_seen: SecretsSeen) -> str:
    # Valid far beyond the retention, so only the key's removal can make it fail.
    now = int(clock.timestamp())
    claims = {"iss": "https://issuer.test", "sub": "alice", "iat": now, "exp": now + 10**7}
    return secrets_seen.add(mint(claims, key))


def _verify(token: str, keyring: Keyring, clock: FrozenClock) -> str | None:
    claims = verify(
        token,
        keyring,
        algorithms=frozenset(SIGNING_ALGORITHMS),
        issuer="https://issuer.test",
        audience=None,
        typ="JWT",
        leeway_s=0,
        clock=clock,
    )
    return claims.subject


def _jwks_kids(keyring: Keyring) -> set[str]:
    return {key["kid"] for key in json.loads(keyring.jwks().body)["keys"]}


async def test_a_retired_key_is_published_for_the_retention_then_leaves_the_jwks(
    databases: list[Database], cipher: FieldCipher, clock: FrozenClock, secrets_seen: SecretsSeen
) -> None:
    keyring = await Keyring.open(databases[0], cipher, KeysSettings(), clock)
    old = keyring.signing_key("ES256")
    token = _token(old, clock, secrets_seen)
    await keyring.rotate("ES256")

    clock.advance(RETENTION.total_seconds() - 1)
    assert await keyring.remove_retired(older_than=RETENTION) == ()
    assert old.kid in _jwks_kids(keyring)
    assert _verify(token, keyring, clock) == "alice"

    clock.advance(1)
    assert await keyring.remove_retired(older_than=RETENTION) == (old.kid,)
    assert old.kid not in _jwks_kids(keyring)
    assert old.kid not in {info.kid for info in keyring.list()}
    with pytest.raises(UntrustedToken):
        _verify(token, keyring, clock)


async def test_active_and_next_keys_are_never_removed_however_old(
    databases: list[Database], cipher: FieldCipher, clock: FrozenClock
) -> None:
    keyring = await Keyring.open(databases[0], cipher, KeysSettings(), clock)
    before = {info.kid: info.state for info in keyring.list()}
    assert set(before.values()) == {KeyState.ACTIVE, KeyState.NEXT}

    clock.advance(10 * 365 * 86_400)

    assert await keyring.remove_retired(older_than=RETENTION) == ()
    assert {info.kid: info.state for info in keyring.list()} == before
    assert keyring.signing_key("ES256").kid in before


async def test_replicas_removing_at_once_delete_each_key_once_and_the_others_drop_it(
    databases: list[Database], cipher: FieldCipher, clock: FrozenClock
) -> None:
    replicas = [await Keyring.open(db, cipher, KeysSettings(), clock) for db in databases]
    retired = replicas[0].signing_key("RS256").kid
    await replicas[0].rotate("RS256")
    for replica in replicas[1:]:
        await replica.refresh()
    clock.advance(RETENTION.total_seconds())
    removed: list[tuple[str, ...]] = []

    async def remove(replica: Keyring) -> None:
        removed.append(await replica.remove_retired(older_than=RETENTION))

    async with anyio.create_task_group() as tasks:
        for replica in replicas:
            tasks.start_soon(remove, replica)

    assert sorted(removed) == [(), (), (retired,)]  # one delete won, the others found nothing
    for replica in replicas:  # each refreshed after its run
        assert replica.find(retired) is None
        assert retired not in _jwks_kids(replica)
    assert await replicas[0].remove_retired(older_than=RETENTION) == ()


async def test_a_replica_that_did_not_run_the_job_drops_the_key_on_its_next_refresh(
    databases: list[Database], cipher: FieldCipher, clock: FrozenClock
) -> None:
    fast = KeysSettings(refresh_interval_s=0.01)
    runner = await Keyring.open(databases[0], cipher, fast, clock)
    other = await Keyring.open(databases[1], cipher, fast, clock)
    retired = runner.signing_key("ES256").kid
    await runner.rotate("ES256")
    await other.refresh()
    etag = other.jwks().etag
    clock.advance(RETENTION.total_seconds())

    assert await runner.remove_retired(older_than=RETENTION) == (retired,)

    assert other.find(retired) is not None  # not refreshed yet
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(other.run_refresh_loop)
        with anyio.fail_after(5):
            while other.find(retired) is not None:  # noqa: ASYNC110  (polling is what is under test)
                await anyio.sleep(0.01)
        tasks.cancel_scope.cancel()
    assert retired not in _jwks_kids(other)
    assert other.jwks().etag != etag
    assert _jwks_kids(other) == _jwks_kids(runner)
