"""Secrets at rest: AES-GCM field encryption, peppered HMAC for generated secrets, argon2id.

Every key here is derived from ``TOKEND_SECRET_KEY`` (and the previous keys still accepted) with
HKDF-SHA256 (RFC 5869), one ``info`` label per purpose, so the encryption key, the pepper and the
key ids never coincide. Stored values carry the id of the key that made them, so the secret key
can rotate: new values use the current key, old ones are still read with a previous key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Final

import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pwdlib.hashers import HasherProtocol
from pwdlib.hashers.argon2 import Argon2Hasher

from tokend.core.errors import TokendError

_SALT: Final = b"tokend/hkdf/v1"
_ENCRYPTION_LABEL: Final = b"tokend/field-encryption/aes-256-gcm/v1"
_ENCRYPTION_ID_LABEL: Final = b"tokend/field-encryption/key-id/v1"
_PEPPER_LABEL: Final = b"tokend/secret-hash/pepper/v1"
_PEPPER_ID_LABEL: Final = b"tokend/secret-hash/pepper-id/v1"
_CIPHERTEXT_VERSION: Final = "v1"
_HASH_VERSION: Final = "h1"
_NONCE_BYTES: Final = 12  # NIST SP 800-38D §8.2: 96-bit random nonces
_TAG_BYTES: Final = 16


class DecryptionFailed(TokendError):
    """A stored ciphertext could not be decrypted: unknown key id, tampered or malformed.

    The description is fixed text; ``internal`` names the reason, never the data.
    """

    default_description = "Stored data could not be decrypted."


def _derive(secret: str, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=label).derive(
        secret.encode("utf-8")
    )


def _key_id(secret: str, label: bytes) -> str:
    # 48 bits: enough to tell a handful of configured keys apart, useless to an attacker.
    return _b64(_derive(secret, label, 6))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unique_secrets(current: str, previous: Sequence[str]) -> list[str]:
    if not current:
        raise ValueError("the secret key must not be empty")
    return list(dict.fromkeys([current, *(p for p in previous if p)]))


class FieldCipher:
    """AES-256-GCM for values stored in columns: ``v1.<kid>.<b64url(nonce || ciphertext)>``."""

    __slots__ = ("_current", "_keys")

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError("the current key id must be one of the keys")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._current = current

    @classmethod
    def from_secrets(cls, current: str, previous: Sequence[str] = ()) -> FieldCipher:
        """Encrypt with ``current``; decrypt with ``current`` or any of ``previous``."""
        keys = {
            _key_id(secret, _ENCRYPTION_ID_LABEL): _derive(secret, _ENCRYPTION_LABEL, 32)
            for secret in _unique_secrets(current, previous)
        }
        return cls(keys, _key_id(current, _ENCRYPTION_ID_LABEL))

    def __repr__(self) -> str:
        return f"FieldCipher(current={self._current!r}, kids={sorted(self._keys)!r})"

    @property
    def current_kid(self) -> str:
        return self._current

    def encrypt(self, plaintext: bytes, *, aad: bytes = b"") -> str:
        """Encrypt under the current key; ``aad`` (e.g. the row id) must match on decrypt."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, self._aad(self._current, aad))
        return f"{_CIPHERTEXT_VERSION}.{self._current}.{_b64(nonce + sealed)}"

    def decrypt(self, ciphertext: str, *, aad: bytes = b"") -> bytes:
        """Decrypt with the key named in the ciphertext; raise :class:`DecryptionFailed`."""
        version, _, rest = ciphertext.partition(".")
        kid, _, body = rest.partition(".")
        if version != _CIPHERTEXT_VERSION or not kid or not body:
            raise DecryptionFailed(internal="ciphertext is not in the v1 format")
        key = self._keys.get(kid)
        if key is None:
            raise DecryptionFailed(internal=f"no configured secret key has id {kid!r}")
        try:
            raw = _unb64(body)
        except (binascii.Error, ValueError):
            raise DecryptionFailed(internal="ciphertext is not base64url") from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionFailed(internal="ciphertext is too short")
        try:
            return key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad(kid, aad))
        except InvalidTag:
            raise DecryptionFailed(
                internal="authentication failed: tampered, or bound to other data"
            ) from None

    def encrypt_text(self, plaintext: str, *, aad: str = "") -> str:
        return self.encrypt(plaintext.encode("utf-8"), aad=aad.encode("utf-8"))

    def decrypt_text(self, ciphertext: str, *, aad: str = "") -> str:
        return self.decrypt(ciphertext, aad=aad.encode("utf-8")).decode("utf-8")

    def needs_reencryption(self, ciphertext: str) -> bool:
        """True when ``ciphertext`` was made with a key other than the current one."""
        return ciphertext.split(".", 2)[1:2] != [self._current]

    @staticmethod
    def _aad(kid: str, aad: bytes) -> bytes:
        # The version and key id are authenticated too, so neither can be swapped.
        return f"{_CIPHERTEXT_VERSION}.{kid}".encode("ascii") + b"\x00" + aad


class SecretHasher:
    """HMAC-SHA256 with a server pepper, for generated high-entropy secrets (client secrets,
    API keys, opaque tokens). Deterministic, so a store can look a secret up by its hash.

    Not for passwords: a low-entropy secret needs a slow hash (:class:`PasswordHasher`).
    """

    __slots__ = ("_current", "_keyed")

    def __init__(self, peppers: Mapping[str, bytes], current: str) -> None:
        if current not in peppers:
            raise ValueError("the current pepper id must be one of the peppers")
        # RFC 2104 §4: the key's inner and outer pads are hashed once per pepper and the
        # keyed state copied per secret. A one-shot hmac.digest() derives them again every
        # time (and looks the digest up in OpenSSL): 2.9 µs a secret against 1.1 in a loop
        # here, and 10 µs inside a token request, whose client secret it checks.
        self._keyed = {pid: hmac.new(key, digestmod=hashlib.sha256) for pid, key in peppers.items()}
        self._current = current

    @classmethod
    def from_secrets(cls, current: str, previous: Sequence[str] = ()) -> SecretHasher:
        peppers = {
            _key_id(secret, _PEPPER_ID_LABEL): _derive(secret, _PEPPER_LABEL, 32)
            for secret in _unique_secrets(current, previous)
        }
        return cls(peppers, _key_id(current, _PEPPER_ID_LABEL))

    def __repr__(self) -> str:
        return f"SecretHasher(current={self._current!r}, peppers={sorted(self._keyed)!r})"

    def hash(self, secret: str) -> str:
        """``h1.<pepper id>.<b64url HMAC>`` under the current pepper."""
        return self._hash_with(self._current, secret)

    def candidates(self, secret: str) -> tuple[str, ...]:
        """The hash under every configured pepper, current first: look rows up with these."""
        return (self.hash(secret), *(self._hash_with(p, secret) for p in self._others()))

    def verify(self, secret: str, stored: str) -> bool:
        """Constant-time comparison of ``secret`` with a stored hash from any known pepper."""
        version, _, rest = stored.partition(".")
        pepper_id, _, _mac = rest.partition(".")
        if version != _HASH_VERSION or pepper_id not in self._keyed:
            return False
        expected = self._hash_with(pepper_id, secret).encode("ascii")
        return hmac.compare_digest(expected, stored.encode("utf-8", "surrogatepass"))

    def needs_rehash(self, stored: str) -> bool:
        return stored.split(".", 2)[1:2] != [self._current]

    def _others(self) -> list[str]:
        return [p for p in self._keyed if p != self._current]

    def _hash_with(self, pepper_id: str, secret: str) -> str:
        # surrogatepass: a lone surrogate from a JSON body must not turn a lookup into a 500.
        data = secret.encode("utf-8", "surrogatepass")
        keyed = self._keyed[pepper_id].copy()
        keyed.update(data)
        mac = keyed.digest()
        return f"{_HASH_VERSION}.{pepper_id}.{_b64(mac)}"


class PasswordHasher:
    """argon2id (RFC 9106) through pwdlib; the hashing runs in a worker thread."""

    __slots__ = ("_dummy", "_hasher")

    def __init__(self, hasher: HasherProtocol | None = None) -> None:
        self._hasher: HasherProtocol = hasher or Argon2Hasher()
        self._dummy: str | None = None

    @classmethod
    def argon2id(cls, memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
        """argon2id with these costs (RFC 9106 §3.1: m in KiB, t passes, p lanes)."""
        return cls(
            Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        )

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash_sync, password)

    async def verify(self, password: str, stored: str | None) -> bool:
        """False on a mismatch or an unknown hash format.

        With ``stored=None`` (no such user) a dummy hash is checked, so the answer takes as
        long as for a real user and timing does not reveal which accounts exist.
        """
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash(secrets.token_urlsafe(16))
            await anyio.to_thread.run_sync(self._verify_sync, password, self._dummy)
            return False
        return await anyio.to_thread.run_sync(self._verify_sync, password, stored)

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than the current ones."""
        if not self._hasher.identify(stored):
            return True
        return self._hasher.check_needs_rehash(stored)

    def _hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def _verify_sync(self, password: str, stored: str) -> bool:
        if not self._hasher.identify(stored):
            return False
        return self._hasher.verify(password, stored)


def sha256_b64url(text: str) -> str:
    """base64url (unpadded) SHA-256 of ``text``'s UTF-8 bytes: RFC 7636 §4.2 S256 code
    challenges, and hash claims that stand in for a one-time secret."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def random_secret(nbytes: int = 32) -> str:
    """A URL-safe random secret of ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)


#: How many bytes of the kernel's randomness each thread takes at a time for identifiers.
ID_BYTES_BLOCK: Final = 4096


class _IdBytes(threading.local):
    """A thread's block of the kernel's random bytes and how far it has been handed out."""

    def __init__(self) -> None:
        self.block = b""
        self.at = 0


_ID_BYTES: Final = _IdBytes()


def _forked() -> None:
    """In a forked child (whose one thread is the one that forked): drop the copy of the
    parent's block, whose bytes the parent hands out too."""
    _ID_BYTES.block = b""
    _ID_BYTES.at = 0


os.register_at_fork(after_in_child=_forked)


def id_bytes(n: int) -> bytes:
    """``n`` random bytes for an identifier (a request id, a token id), not for a secret.

    Taken from a block of ``os.urandom`` bytes that each thread reads 4 KiB at a time, so that
    a request does not make a ``getrandom`` system call per identifier: in a running server on
    this project's virtual machines one such call took 1.7 µs at the median and 18 µs at the
    90th percentile (in process, vault validate); from the block, 1.5 and 1.9. Each byte is
    handed out once; a forked child never reuses its parent's block. The identifiers are as
    unguessable as before (the kernel's CSPRNG, 120 or 128 bits), but the bytes of a thread's
    next ones wait in the process's memory, readable only by what can read that memory (which
    holds the signing keys too). Bearer secrets (refresh tokens, codes, client secrets:
    :func:`random_secret`) and AES-GCM nonces still come straight from the kernel."""
    if n > ID_BYTES_BLOCK:
        return os.urandom(n)
    local = _ID_BYTES
    at = local.at
    if at + n > len(local.block):
        local.block = os.urandom(ID_BYTES_BLOCK)
        at = 0
    local.at = at + n
    return local.block[at : at + n]


#: RFC 4648 §6's base32 alphabet, lowercase, by pairs: the two characters of each 10 bits.
_BASE32_PAIRS: Final = tuple(a + b for a in "abcdefghijklmnopqrstuvwxyz234567" for b in
                             "abcdefghijklmnopqrstuvwxyz234567")  # fmt: skip
_TEN_BITS_AT: Final = tuple(range(110, -1, -10))


def random_id(prefix: str = "") -> str:
    """``prefix`` + 24 lowercase base32 characters (120 random bits); never starts with ``-``.

    What ``base64.b32encode(id_bytes(15)).lower()`` gives, by a table of 10-bit pairs: the
    standard library's base32 is written in Python (an id took 3.3 µs with it in a loop here,
    2.2 with the table; one id per token tokend issues, and several per sign-in)."""
    bits = int.from_bytes(id_bytes(15), "big")
    return prefix + "".join([_BASE32_PAIRS[(bits >> at) & 0x3FF] for at in _TEN_BITS_AT])
