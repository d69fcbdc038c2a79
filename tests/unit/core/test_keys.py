from __future__ import annotations

import json
from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import text

from tests.log_lines import LogLines
from tests.polling import eventually
from tests.secrets_seen import SecretsSeen
from tokend.core.clock import FrozenClock, SystemClock
from tokend.core.crypto import DecryptionFailed, FieldCipher
from tokend.core.errors import Conflict, NotFound
from tokend.core.jwt import SigningKey, UntrustedToken, mint, verify
from tokend.core.keys import SIGNING_ALGORITHMS, Keyring, KeyState
from tokend.core.settings import KeysSettings
from tokend.store.engine import Database, open_database
from tokend.store.settings import DatabaseSettings


def _claims() -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    return {"iss": "https://issuer.test", "sub": "alice", "iat": now, "exp": now + 300}


def _verify(token: str, keyring: Keyring) -> str | None:
    claims = verify(
        token,
        keyring,
        algorithms=frozenset(SIGNING_ALGORITHMS),
        issuer="https://issuer.test",
        audience=None,
        typ="JWT",
        leeway_s=0,
        clock=SystemClock(),
    )
    return claims.subject


def _jwks_kids(keyring: Keyring) -> set[str]:
    return {key["kid"] for key in json.loads(keyring.jwks().body)["keys"]}


def _states(keyring: Keyring, alg: str) -> list[KeyState]:
    return [info.state for info in keyring.list() if info.alg == alg]


def _private_d(key: SigningKey, secrets_seen: SecretsSeen) -> str:
    return secrets_seen.add(str(key.key.as_dict(private=True)["d"]))


async def test_open_creates_an_active_and_a_next_key_for_each_configured_algorithm(
    keyring: Keyring,
) -> None:
    for alg in ("ES256", "RS256"):
        states = _states(keyring, alg)
        assert states.count(KeyState.ACTIVE) == 1
        assert states.count(KeyState.NEXT) == 1
        assert keyring.signing_key(alg).alg == alg
    next_kids = {i.kid for i in keyring.list() if i.state is KeyState.NEXT}
    assert next_kids <= _jwks_kids(keyring)  # the next key is published before it signs


async def test_a_token_signed_before_rotation_still_verifies_after_it(
    keyring: Keyring, secrets_seen: SecretsSeen
) -> None:
    before = keyring.signing_key("ES256")
    next_kid = next(i.kid for i in keyring.list() if i.alg == "ES256" and i.state is KeyState.NEXT)
    token = secrets_seen.add(mint(_claims(), before))

    new_kid = await keyring.rotate("ES256")

    assert new_kid == next_kid  # the pre-published key is the one that took over
    assert keyring.signing_key("ES256").kid == new_kid != before.kid
    assert _verify(token, keyring) == "alice"
    assert {before.kid, new_kid} <= _jwks_kids(keyring)
    retired = next(i for i in keyring.list() if i.kid == before.kid)
    assert retired.state is KeyState.RETIRED
    assert retired.retired_at is not None
    assert _states(keyring, "ES256").count(KeyState.NEXT) == 1


async def test_signing_keys_table_holds_no_private_key_in_clear(
    keyring: Keyring, database: Database, secrets_seen: SecretsSeen
) -> None:
    private_ds = {_private_d(keyring.signing_key(alg), secrets_seen) for alg in ("ES256", "RS256")}
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM signing_keys"))).all()
    assert rows
    for row in rows:
        for column in map(str, row):
            assert "-----BEGIN" not in column
            assert '"d":' not in column
            assert '"p":' not in column
            assert not any(d in column for d in private_ds)
    enc = [str(row._mapping["private_key_enc"]) for row in rows]
    assert all(value.startswith("v1.") for value in enc)


async def test_another_replica_picks_up_a_rotation_on_refresh(
    database_settings: DatabaseSettings, cipher: FieldCipher
) -> None:
    first_db, second_db = open_database(database_settings), open_database(database_settings)
    try:
        first = await Keyring.open(first_db, cipher, KeysSettings(), SystemClock())
        second = await Keyring.open(second_db, cipher, KeysSettings(), SystemClock())
        assert not await second.refresh()  # nothing changed: nothing swapped
        etag = second.jwks().etag

        new_kid = await first.rotate("RS256")

        assert second.signing_key("RS256").kid != new_kid
        assert await second.refresh()
        assert second.signing_key("RS256").kid == new_kid
        assert second.jwks().etag != etag
        assert _jwks_kids(second) == _jwks_kids(first)
    finally:
        await first_db.close()
        await second_db.close()


async def test_retiring_the_next_key_publishes_a_fresh_one(keyring: Keyring) -> None:
    next_kid = next(i.kid for i in keyring.list() if i.alg == "ES256" and i.state is KeyState.NEXT)
    active_kid = keyring.signing_key("ES256").kid

    await keyring.retire(next_kid)

    states = {i.kid: i.state for i in keyring.list()}
    assert states[next_kid] is KeyState.RETIRED
    assert keyring.signing_key("ES256").kid == active_kid
    assert _states(keyring, "ES256").count(KeyState.NEXT) == 1


async def test_retiring_the_active_key_rotates_so_signing_never_stops(keyring: Keyring) -> None:
    active_kid = keyring.signing_key("ES256").kid

    await keyring.retire(active_kid)

    assert keyring.signing_key("ES256").kid != active_kid
    assert {i.kid: i.state for i in keyring.list()}[active_kid] is KeyState.RETIRED
    assert keyring.find(active_kid) is not None  # still verifies until removed


async def test_removing_a_retired_key_unpublishes_it(
    keyring: Keyring, secrets_seen: SecretsSeen
) -> None:
    old = keyring.signing_key("ES256")
    token = secrets_seen.add(mint(_claims(), old))
    await keyring.rotate("ES256")

    await keyring.remove(old.kid)

    assert keyring.find(old.kid) is None
    assert old.kid not in _jwks_kids(keyring)
    with pytest.raises(UntrustedToken) as caught:
        _verify(token, keyring)
    assert caught.value.internal == "kid is not a known key"


async def test_only_retired_keys_can_be_removed_and_unknown_kids_are_not_found(
    keyring: Keyring,
) -> None:
    with pytest.raises(Conflict, match="is active; only retired keys can be removed"):
        await keyring.remove(keyring.signing_key("RS256").kid)
    with pytest.raises(NotFound, match="no-such-kid"):
        await keyring.remove("no-such-kid")
    with pytest.raises(NotFound, match="no-such-kid"):
        await keyring.retire("no-such-kid")


async def test_rotating_an_algorithm_with_no_keys_creates_active_and_next(
    databases: list[Database], cipher: FieldCipher
) -> None:
    keyring = await Keyring.open(databases[0], cipher, KeysSettings(), FrozenClock())
    assert "EdDSA" not in {i.alg for i in keyring.list()}

    kid = await keyring.rotate("EdDSA")

    assert keyring.signing_key("EdDSA").kid == kid
    assert sorted(_states(keyring, "EdDSA")) == [KeyState.ACTIVE, KeyState.NEXT]


async def test_replicas_starting_together_agree_on_one_active_key_per_algorithm(
    databases: list[Database], cipher: FieldCipher
) -> None:
    settings = KeysSettings(access_token_alg="EdDSA", id_token_alg="ES256")
    keyrings: list[Keyring] = []

    async def start(db: Database) -> None:
        keyrings.append(await Keyring.open(db, cipher, settings, SystemClock()))

    async with anyio.create_task_group() as replicas:
        for db in databases:
            replicas.start_soon(start, db)

    for keyring in keyrings:
        await keyring.refresh()
    async with databases[0].engine.connect() as conn:
        counts = (
            await conn.execute(
                text("SELECT alg, state, COUNT(*) FROM signing_keys GROUP BY alg, state")
            )
        ).all()
    assert sorted(tuple(row) for row in counts) == [
        ("ES256", "active", 1),
        ("ES256", "next", 1),
        ("EdDSA", "active", 1),
        ("EdDSA", "next", 1),
    ]
    for alg in ("EdDSA", "ES256"):
        assert len({keyring.signing_key(alg).kid for keyring in keyrings}) == 1


async def test_refresh_loop_picks_up_changes_and_survives_failures(
    databases: list[Database], cipher: FieldCipher, capfd: pytest.CaptureFixture[str]
) -> None:
    logs = LogLines(capfd)
    fast = KeysSettings(refresh_interval_s=0.01)
    writer = await Keyring.open(databases[0], cipher, fast, SystemClock())
    reader = await Keyring.open(databases[1], cipher, fast, SystemClock())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reader.run_refresh_loop)
        new_kid = await writer.rotate("ES256")
        await eventually(lambda: reader.signing_key("ES256").kid == new_kid)

        async with databases[0].engine.begin() as conn:
            await conn.execute(text("ALTER TABLE signing_keys RENAME TO signing_keys_away"))
        await eventually(lambda: len(logs.named("keyring.refresh_failed")) >= 2)  # two rounds
        assert reader.signing_key("ES256").kid == new_kid  # last good keys keep serving

        async with databases[0].engine.begin() as conn:
            await conn.execute(text("ALTER TABLE signing_keys_away RENAME TO signing_keys"))
        # The loop is still running: a rotation after the failures reaches the reader too.
        newer_kid = await writer.rotate("ES256")
        await eventually(lambda: reader.signing_key("ES256").kid == newer_kid)
        tasks.cancel_scope.cancel()


async def test_shutdown_lets_a_refresh_in_flight_finish(
    databases: list[Database], cipher: FieldCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling the loop mid-refresh would cancel its query (on aiosqlite, a connection close
    that can hang process exit); the loop stops once the refresh is done."""
    keyring = await Keyring.open(
        databases[0], cipher, KeysSettings(refresh_interval_s=0.01), SystemClock()
    )
    started, release = anyio.Event(), anyio.Event()
    finished: list[bool] = []
    real_refresh = keyring.refresh

    async def slow_refresh() -> bool:
        started.set()
        await release.wait()
        changed = await real_refresh()
        finished.append(changed)
        return changed

    monkeypatch.setattr(keyring, "refresh", slow_refresh)
    shutdown = anyio.CancelScope()

    async def serve() -> None:
        with shutdown:
            await keyring.run_refresh_loop()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(serve)
            await started.wait()
            shutdown.cancel()  # while the refresh waits
            release.set()
    assert finished == [False]  # ran to the end, then the loop stopped


async def test_keyring_refuses_keys_it_cannot_decrypt(
    databases: list[Database], cipher: FieldCipher
) -> None:
    await Keyring.open(databases[0], cipher, KeysSettings(), SystemClock())
    stranger = FieldCipher.from_secrets("another-secret-key-that-is-long-enough-0123")
    with pytest.raises(DecryptionFailed):
        await Keyring.open(databases[1], stranger, KeysSettings(), SystemClock())


async def test_an_authentic_rsa_key_without_its_crt_members_is_refused(
    databases: list[Database], cipher: FieldCipher
) -> None:
    # RSA keys read back skip cryptography's validation (the ciphertext is authenticated), so
    # the keyring takes only the full private JWK its own ``_generate`` writes.
    first = await Keyring.open(databases[0], cipher, KeysSettings(), SystemClock())
    kid = first.signing_key("RS256").kid
    stored = first.signing_key("RS256").key.as_dict(private=True)
    partial = {name: value for name, value in stored.items() if name not in ("p", "q", "dp")}
    sealed = cipher.encrypt_text(json.dumps(partial), aad=f"signing_keys/{kid}")
    async with databases[0].sessions() as session, session.begin():
        await session.execute(
            text("UPDATE signing_keys SET private_key_enc = :enc WHERE kid = :kid"),
            {"enc": sealed, "kid": kid},
        )
    with pytest.raises(ValueError, match="not a full private JWK"):
        await Keyring.open(databases[1], cipher, KeysSettings(), SystemClock())
