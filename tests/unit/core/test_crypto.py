from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pwdlib.hashers.argon2 import Argon2Hasher

from tests.secrets_seen import SecretsSeen
from tokend.core.crypto import (
    ID_BYTES_BLOCK,
    DecryptionFailed,
    FieldCipher,
    PasswordHasher,
    SecretHasher,
    id_bytes,
    random_id,
    random_secret,
)

OLD_KEY = "old-secret-key-0123456789abcdefghijklmnop"
NEW_KEY = "new-secret-key-0123456789abcdefghijklmnop"


@pytest.fixture(autouse=True)
def _register(secrets_seen: SecretsSeen) -> None:
    secrets_seen.add(OLD_KEY)
    secrets_seen.add(NEW_KEY)


def test_field_cipher_round_trips_bytes_and_text() -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY)
    assert cipher.decrypt(cipher.encrypt(b"\x00refresh-token\xff")) == b"\x00refresh-token\xff"
    assert cipher.decrypt_text(cipher.encrypt_text("ya29.token", aad="row-1"), aad="row-1") == (
        "ya29.token"
    )


def test_ciphertext_names_its_key_and_never_repeats() -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY)
    first, second = cipher.encrypt(b"same"), cipher.encrypt(b"same")
    assert first.startswith(f"v1.{cipher.current_kid}.")
    assert first != second
    assert "same" not in first


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1], id="last-bytes"),
        pytest.param(lambda c: c[:20] + ("A" if c[20] != "A" else "B") + c[21:], id="nonce"),
        pytest.param(lambda c: c[:-10], id="truncated"),
        pytest.param(lambda c: "v2" + c[2:], id="version"),
        pytest.param(lambda c: c.replace(".", "", 1), id="format"),
        pytest.param(lambda c: c + "!", id="not-base64"),
    ],
)
def test_tampered_ciphertext_is_refused(tamper: Callable[[str], str]) -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY)
    ciphertext = cipher.encrypt(b"third-party refresh token")
    with pytest.raises(DecryptionFailed) as caught:
        cipher.decrypt(tamper(ciphertext))
    assert "refresh token" not in str(caught.value)
    assert caught.value.description == "Stored data could not be decrypted."


def test_ciphertext_bound_to_one_row_does_not_decrypt_for_another() -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY)
    ciphertext = cipher.encrypt(b"secret", aad=b"connection:1")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(ciphertext, aad=b"connection:2")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(ciphertext)


def test_after_key_rotation_old_ciphertext_decrypts_and_new_uses_the_new_key() -> None:
    old = FieldCipher.from_secrets(OLD_KEY)
    stored = old.encrypt(b"vault token", aad=b"row")
    rotated = FieldCipher.from_secrets(NEW_KEY, [OLD_KEY])
    assert rotated.decrypt(stored, aad=b"row") == b"vault token"
    assert rotated.needs_reencryption(stored)
    fresh = rotated.encrypt(b"vault token", aad=b"row")
    assert fresh.split(".")[1] == rotated.current_kid != old.current_kid
    assert not rotated.needs_reencryption(fresh)


def test_a_key_that_was_dropped_from_previous_cannot_decrypt() -> None:
    stored = FieldCipher.from_secrets(OLD_KEY).encrypt(b"vault token")
    with pytest.raises(DecryptionFailed) as caught:
        FieldCipher.from_secrets(NEW_KEY).decrypt(stored)
    assert caught.value.internal is not None
    assert "no configured secret key" in caught.value.internal


def test_cipher_repr_shows_key_ids_only() -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY, [OLD_KEY])
    assert NEW_KEY not in repr(cipher)
    assert OLD_KEY not in repr(cipher)
    assert cipher.current_kid in repr(cipher)


def test_secret_hasher_verifies_the_secret_and_nothing_else(secrets_seen: SecretsSeen) -> None:
    hasher = SecretHasher.from_secrets(NEW_KEY)
    secret = secrets_seen.add(random_secret())
    stored = hasher.hash(secret)
    assert stored.startswith("h1.")
    assert secret not in stored
    assert hasher.verify(secret, stored)
    assert not hasher.verify(secret + "x", stored)
    assert not hasher.verify(secret, "h1.unknown." + stored.split(".")[2])
    assert not hasher.verify(secret, "not a hash")
    assert not hasher.verify(secret, stored[:-1] + "é")
    assert not hasher.verify("\ud800", stored)


def test_secret_hashes_from_an_old_pepper_still_verify(secrets_seen: SecretsSeen) -> None:
    secret = secrets_seen.add(random_secret())
    stored = SecretHasher.from_secrets(OLD_KEY).hash(secret)
    rotated = SecretHasher.from_secrets(NEW_KEY, [OLD_KEY])
    assert rotated.verify(secret, stored)
    assert rotated.needs_rehash(stored)
    assert rotated.candidates(secret) == (rotated.hash(secret), stored)
    assert not SecretHasher.from_secrets(NEW_KEY).verify(secret, stored)


def test_secret_hashes_stored_by_earlier_releases_are_made_the_same_way() -> None:
    # Made by the release before one-shot HMAC (hmac.new(...).digest()): client secrets, API
    # keys and token hashes in existing databases must keep matching. Each hash is taken
    # twice, interleaved: the keyed state copied per secret is never the one updated.
    hasher = SecretHasher.from_secrets("k" * 48)
    known = "h1.QQVrI8I-.845bhD4yHEM7qC0_HqZNz7RXnU3yccl7nJZ2fxq6bMY"
    lone = "h1.QQVrI8I-.-d-05IMOElh1QmPc69xvfkiM7C9YDb30NLH3xBTiYAY"
    for _ in range(2):
        assert hasher.hash("s3cret-value") == known
        assert hasher.hash("\udcff lone") == lone
    assert hasher.verify("\udcff lone", lone)
    assert hasher.verify("s3cret-value", known)


def test_pepper_and_encryption_key_are_distinct_derivations() -> None:
    cipher = FieldCipher.from_secrets(NEW_KEY)
    hasher = SecretHasher.from_secrets(NEW_KEY)
    assert cipher.current_kid not in repr(hasher)


class _ThreadRecordingArgon2(Argon2Hasher):
    """The real argon2id hasher, noting which thread each call ran on."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        self.threads: list[threading.Thread] = []

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.threads.append(threading.current_thread())
        return super().hash(password, salt=salt)

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        self.threads.append(threading.current_thread())
        return super().verify(password, hash)


async def test_password_hashing_runs_in_a_worker_thread_not_on_the_event_loop() -> None:
    argon2 = _ThreadRecordingArgon2()
    hasher = PasswordHasher(argon2)
    stored = await hasher.hash("correct horse battery staple")
    assert await hasher.verify("correct horse battery staple", stored)
    assert len(argon2.threads) == 2
    assert all(t is not threading.current_thread() for t in argon2.threads)


async def test_password_verify_is_true_for_the_password_and_false_otherwise() -> None:
    hasher = PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    stored = await hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify("correct horse battery staple", stored)
    assert not await hasher.verify("Correct horse battery staple", stored)
    assert not await hasher.verify("correct horse battery staple", "$2b$12$not-argon2")
    assert not await hasher.verify("correct horse battery staple", None)


async def test_hashes_made_with_weaker_parameters_need_a_rehash() -> None:
    weak = PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))
    strong = PasswordHasher(Argon2Hasher(time_cost=2, memory_cost=16 * 1024, parallelism=1))
    stored = await weak.hash("pw-for-rehash")
    assert strong.needs_rehash(stored)
    assert not weak.needs_rehash(stored)
    assert strong.needs_rehash("plain text")


def test_random_secrets_and_ids_are_url_safe_and_unique() -> None:
    assert len({random_secret() for _ in range(100)}) == 100
    assert len(random_secret(32)) == 43
    ids = {random_id("cl_") for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("cl_") and i[3:].isalnum() and i[3:].islower() for i in ids)
    assert all(len(i) == 27 for i in ids)


@given(st.binary(min_size=15, max_size=15))
def test_an_id_is_the_base32_of_its_random_bytes(random_bytes: bytes) -> None:
    """random_id's own base32 writes what RFC 4648's (the standard library's) writes."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("tokend.core.crypto.id_bytes", lambda n: random_bytes[:n])
        made = random_id("x_")
    assert made == "x_" + base64.b32encode(random_bytes).decode().lower()


def test_id_bytes_hand_each_byte_of_the_kernels_blocks_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks: list[bytes] = []
    kernels = os.urandom

    def urandom(n: int) -> bytes:
        blocks.append(bytes([len(blocks) + 1]) * 7 + kernels(n - 7))
        return blocks[-1]

    monkeypatch.setattr("tokend.core.crypto.os.urandom", urandom)
    monkeypatch.setattr("tokend.core.crypto._ID_BYTES.block", b"")
    taken = [id_bytes(15) for _ in range(ID_BYTES_BLOCK // 15 + 1)]
    assert len(blocks) == 2  # the block's last bytes (fewer than 15) are never handed out
    assert b"".join(taken[:-1]) == blocks[0][: ID_BYTES_BLOCK // 15 * 15]
    assert taken[-1] == blocks[1][:15]
    assert all(len(part) == 15 for part in taken)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_never_hands_out_its_parents_id_bytes() -> None:
    id_bytes(16)  # the parent has a block
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(write, id_bytes(16))
        os._exit(0)
    os.close(write)
    in_child = os.read(read, 16)
    os.close(read)
    os.waitpid(child, 0)
    assert in_child != id_bytes(16)  # the parent's next bytes
