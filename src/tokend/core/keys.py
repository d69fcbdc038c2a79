"""The keyring: signing keys in the ``signing_keys`` table, rotated ``next`` → ``active`` →
``retired`` → removed, and the JWKS (RFC 7517 §5) that publishes them.

Every replica holds the whole keyring in memory, so signing, ``find`` and the JWKS never touch
the database; ``refresh`` re-reads the table when another replica (or ``tokend keys``) changed
it. The database keeps the invariants: partial unique indexes allow one ``active`` and one
``next`` key per algorithm, so replicas starting together cannot both create one.

A retired key is removed by hand (``tokend keys remove``) or by the periodic job
``REMOVE_RETIRED_JOB`` once it has been retired longer than the retention
(``Settings.retired_key_retention_s``); each replica drops it on its next refresh.

Private keys are stored only as FieldCipher ciphertext bound to their kid. The public keys are
derived from the decrypted private keys, never read from ``public_jwk``: a row written by
someone without the secret key cannot make a token verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, get_args

import anyio
import anyio.to_thread
import structlog
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateNumbers, RSAPublicNumbers
from joserfc.jwk import ECKey, JWKRegistry, Key, KeyParameters, OKPKey, RSAKey
from joserfc.util import base64_to_int
from sqlalchemy import CheckConstraint, Index, String, Text, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, random_id
from tokend.core.errors import Conflict, NotFound, ServiceUnavailable
from tokend.core.jwt import SigningKey, VerificationKey, verification_key_from_jwk
from tokend.core.settings import KeysSettings, SigningAlgorithm
from tokend.store.base import Base, UTCDateTime
from tokend.store.engine import Database

log = structlog.get_logger("tokend.keys")

SIGNING_ALGORITHMS: Final[tuple[SigningAlgorithm, ...]] = get_args(SigningAlgorithm)
RSA_KEY_BITS: Final = 2048


class KeyState(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


#: The periodic job that removes keys retired longer than the retention; app.py registers it.
REMOVE_RETIRED_JOB: Final = "keys.remove_retired"
#: Removal is due at the retention's end and happens within this much after it.
REMOVE_RETIRED_EVERY_S: Final = 3600.0


class NoSigningKey(ServiceUnavailable):
    default_description = "No signing key is available; try again shortly."


class KeyNotRetired(Conflict):
    """Only a retired key can be removed: the active and next keys sign, or are about to."""


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint("state IN ('next', 'active', 'retired')", name="state"),
        CheckConstraint("use = 'sig'", name="use"),
        Index(
            "uq_signing_keys_active_alg",
            "alg",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index(
            "uq_signing_keys_next_alg",
            "alg",
            unique=True,
            sqlite_where=text("state = 'next'"),
            postgresql_where=text("state = 'next'"),
        ),
    )

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    use: Mapped[str] = mapped_column(String(8), default="sig")
    state: Mapped[str] = mapped_column(String(16))
    #: For people and SQL; the keyring derives public keys from the private key instead.
    public_jwk: Mapped[str] = mapped_column(Text)
    #: FieldCipher ciphertext of the private JWK, associated data ``signing_keys/<kid>``.
    private_key_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    alg: str
    state: KeyState
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class JwksDocument:
    """The JWKS, serialised once per keyring change; ``etag`` is a strong validator."""

    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class _Material:
    signing: SigningKey
    public: VerificationKey


@dataclass(frozen=True, slots=True)
class _Snapshot:
    infos: tuple[KeyInfo, ...]
    material: Mapping[str, _Material]
    active: Mapping[str, SigningKey]
    jwks: JwksDocument

    @property
    def fingerprint(self) -> tuple[tuple[str, str], ...]:
        return tuple((info.kid, info.state.value) for info in self.infos)


#: How long a refresh may hold off shutdown (see ``run_refresh_loop``); past it, it is cut short.
_REFRESH_BUDGET_S: Final = 10.0
_STATE_ORDER: Final = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}


class Keyring:
    """Signing keys for this process; satisfies :class:`tokend.core.jwt.KeySource`."""

    def __init__(
        self, database: Database, cipher: FieldCipher, settings: KeysSettings, clock: Clock
    ) -> None:
        self._db = database
        self._cipher = cipher
        self._settings = settings
        self._clock = clock
        self._snapshot = _build_snapshot((), {})
        self._refresh_lock = anyio.Lock()

    @classmethod
    async def open(
        cls, database: Database, cipher: FieldCipher, settings: KeysSettings, clock: Clock
    ) -> Keyring:
        """Load the keyring, creating an active and a next key for each configured algorithm."""
        keyring = cls(database, cipher, settings, clock)
        await keyring.refresh()
        for alg in dict.fromkeys((settings.access_token_alg, settings.id_token_alg)):
            await keyring._ensure(alg)
        return keyring

    def signing_key(self, alg: str) -> SigningKey:
        """The active key for ``alg``."""
        key = self._snapshot.active.get(alg)
        if key is None:
            raise NoSigningKey(internal=f"no active {alg} key in the keyring")
        return key

    def find(self, kid: str) -> VerificationKey | None:
        material = self._snapshot.material.get(kid)
        return material.public if material is not None else None

    def jwks(self) -> JwksDocument:
        return self._snapshot.jwks

    def list(self) -> tuple[KeyInfo, ...]:
        """Every key, active first, then next, then retired."""
        return self._snapshot.infos

    async def rotate(self, alg: SigningAlgorithm) -> str:
        """Promote the next key to active, retire the old active one, pre-publish a fresh next.

        Returns the new active kid. Raises Conflict when another rotation of ``alg`` won a race.
        """
        fresh = await _generate(alg)
        now = self._clock.now()
        needs_next = False
        try:
            async with self._db.sessions.begin() as session:
                # Write first: on SQLite this takes the write lock before anything is read.
                await session.execute(
                    update(SigningKeyRow)
                    .where(SigningKeyRow.alg == alg, SigningKeyRow.state == KeyState.ACTIVE.value)
                    .values(state=KeyState.RETIRED.value, retired_at=now)
                )
                next_kid = await session.scalar(
                    select(SigningKeyRow.kid).where(
                        SigningKeyRow.alg == alg, SigningKeyRow.state == KeyState.NEXT.value
                    )
                )
                if next_kid is None:
                    session.add(self._row(fresh, KeyState.ACTIVE, now))
                    active_kid, needs_next = _kid(fresh), True
                else:
                    await session.execute(
                        update(SigningKeyRow)
                        .where(SigningKeyRow.kid == next_kid)
                        .values(state=KeyState.ACTIVE.value, activated_at=now)
                    )
                    session.add(self._row(fresh, KeyState.NEXT, now))
                    active_kid = next_kid
        except IntegrityError:
            raise Conflict(f"another rotation of {alg} keys ran at the same time; retry") from None
        if needs_next:
            await self._insert(await _generate(alg), KeyState.NEXT)
        await self.refresh()
        log.info("keyring.rotated", alg=alg, active_kid=active_kid)
        return active_kid

    async def retire(self, kid: str) -> None:
        """Stop signing with ``kid``; it stays in the JWKS until removed.

        Retiring the active key rotates its algorithm, so signing never stops.
        """
        info = await self._read_info(kid)
        if info.state is KeyState.ACTIVE:
            await self.rotate(_signing_alg(info.alg))
            return
        if info.state is KeyState.NEXT:
            async with self._db.sessions.begin() as session:
                await session.execute(
                    update(SigningKeyRow)
                    .where(SigningKeyRow.kid == kid, SigningKeyRow.state == KeyState.NEXT.value)
                    .values(state=KeyState.RETIRED.value, retired_at=self._clock.now())
                )
            await self._insert(await _generate(_signing_alg(info.alg)), KeyState.NEXT)
            log.info("keyring.retired", kid=kid, alg=info.alg)
        await self.refresh()

    async def remove(self, kid: str) -> None:
        """Delete a retired key: tokens it signed stop verifying everywhere."""
        info = await self._read_info(kid)
        if info.state is not KeyState.RETIRED:
            raise KeyNotRetired(
                f"key {kid} is {info.state.value}; only retired keys can be removed"
            )
        async with self._db.sessions.begin() as session:
            await session.execute(
                delete(SigningKeyRow).where(
                    SigningKeyRow.kid == kid, SigningKeyRow.state == KeyState.RETIRED.value
                )
            )
        log.info("keyring.removed", kid=kid, alg=info.alg)
        await self.refresh()

    async def remove_retired(self, older_than: timedelta) -> tuple[str, ...]:
        """Delete the keys retired at least ``older_than`` ago; returns the kids this call removed.

        Safe on every replica at once: the delete is conditional, so a second run (or another
        replica's) removes nothing more.
        """
        cutoff = self._clock.now() - older_than
        async with self._db.sessions.begin() as session:
            removed = (
                await session.scalars(
                    delete(SigningKeyRow)
                    .where(
                        SigningKeyRow.state == KeyState.RETIRED.value,
                        SigningKeyRow.retired_at <= cutoff,
                    )
                    .returning(SigningKeyRow.kid)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        kids = tuple(sorted(removed))
        if kids:
            log.info("keyring.retired_removed", kids=list(kids), retired_before=cutoff.isoformat())
        await self.refresh()
        return kids

    async def refresh(self) -> bool:
        """Re-read the table; swap in the new keys if any kid or state changed."""
        async with self._refresh_lock:
            async with self._db.sessions() as session:
                rows = (
                    await session.execute(
                        select(
                            SigningKeyRow.kid,
                            SigningKeyRow.alg,
                            SigningKeyRow.state,
                            SigningKeyRow.created_at,
                            SigningKeyRow.activated_at,
                            SigningKeyRow.retired_at,
                        )
                    )
                ).all()
                infos = _sorted_infos(KeyInfo(r[0], r[1], KeyState(r[2]), *r[3:]) for r in rows)
                if tuple((i.kid, i.state.value) for i in infos) == self._snapshot.fingerprint:
                    return False
                kids = {info.kid for info in infos}
                material = {k: m for k, m in self._snapshot.material.items() if k in kids}
                missing = [info.kid for info in infos if info.kid not in material]
                if missing:
                    encrypted = await session.execute(
                        select(SigningKeyRow.kid, SigningKeyRow.private_key_enc).where(
                            SigningKeyRow.kid.in_(missing)
                        )
                    )
                    algs = {info.kid: info.alg for info in infos}
                    for kid, private_key_enc in encrypted:
                        material[kid] = self._decrypt(kid, algs[kid], private_key_enc)
            infos = tuple(info for info in infos if info.kid in material)
            self._snapshot = _build_snapshot(infos, material)
            return True

    async def run_refresh_loop(self) -> None:
        """Refresh every ``refresh_interval_s`` forever; a failure is logged, never fatal."""
        while True:
            await anyio.sleep(self._settings.refresh_interval_s)
            # Shutdown stops the loop between refreshes, not inside one (within a bound): a
            # query cancelled midway makes SQLAlchemy invalidate its connection, and on
            # aiosqlite that close can race the pool's own and never finish, so the process
            # hung at exit after "Application shutdown complete" (seen in tests/e2e/test_serve.py).
            budget = anyio.current_time() + _REFRESH_BUDGET_S
            with anyio.CancelScope(shield=True, deadline=budget) as scope:
                try:
                    if await self.refresh():
                        log.info("keyring.refreshed", kids=[i.kid for i in self.list()])
                except Exception as exc:  # the last good keys keep serving; the next round retries
                    log.warning("keyring.refresh_failed", error=type(exc).__name__, exc_info=True)
            if scope.cancelled_caught:
                log.warning("keyring.refresh_timed_out", budget_s=_REFRESH_BUDGET_S)

    async def _ensure(self, alg: SigningAlgorithm) -> None:
        states = {info.state for info in self.list() if info.alg == alg}
        for state in (KeyState.ACTIVE, KeyState.NEXT):
            if state not in states:
                await self._insert(await _generate(alg), state)
        await self.refresh()

    async def _insert(self, key: Key, state: KeyState) -> bool:
        """Insert ``key``; False when a replica created the ``state`` key for its alg first."""
        try:
            async with self._db.sessions.begin() as session:
                session.add(self._row(key, state, self._clock.now()))
        except IntegrityError:
            return False
        log.info("keyring.key_created", kid=_kid(key), alg=key.alg, state=state.value)
        return True

    def _row(self, key: Key, state: KeyState, now: datetime) -> SigningKeyRow:
        kid = _kid(key)
        private = json.dumps(key.as_dict(private=True), separators=(",", ":"))
        return SigningKeyRow(
            kid=kid,
            alg=_alg(key),
            use="sig",
            state=state.value,
            public_jwk=json.dumps(key.as_dict(private=False), separators=(",", ":")),
            private_key_enc=self._cipher.encrypt_text(private, aad=_aad(kid)),
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )

    def _decrypt(self, kid: str, alg: str, private_key_enc: str) -> _Material:
        jwk = json.loads(self._cipher.decrypt_text(private_key_enc, aad=_aad(kid)))
        key = _import_stored(jwk)
        # The ciphertext is authentic, the row's other columns are not: they must agree with it.
        if key.kid != kid or key.alg != alg or alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"stored key {kid} does not match its row")
        public = verification_key_from_jwk(key.as_dict(private=False))
        return _Material(SigningKey(kid=kid, alg=public.alg, key=key), public)

    async def _read_info(self, kid: str) -> KeyInfo:
        await self.refresh()
        for info in self.list():
            if info.kid == kid:
                return info
        raise NotFound(f"no signing key {kid}")


_RSA_PRIVATE_MEMBERS: Final = ("n", "e", "d", "p", "q", "dp", "dq", "qi")


def _import_stored(jwk: dict[str, Any]) -> Key:
    """A private key the keyring stored itself. The ciphertext it came from is authenticated
    (FieldCipher with the kid as associated data), so an RSA key is the one ``_generate`` made
    with cryptography, and cryptography's RSA validation (a 2048-bit key: ~30 ms, against
    ~0.1 ms without; its documentation allows skipping it for keys from a trusted source) is
    skipped: each replica, CLI command and test app decrypts every key at start-up. Other key
    types import as usual (they cost microseconds)."""
    if jwk.get("kty") != "RSA":
        return JWKRegistry.import_key(jwk)
    missing = [member for member in _RSA_PRIVATE_MEMBERS if not isinstance(jwk.get(member), str)]
    if missing or "oth" in jwk:
        raise ValueError(f"stored RSA key {jwk.get('kid')} is not a full private JWK")
    numbers = RSAPrivateNumbers(
        p=base64_to_int(jwk["p"]),
        q=base64_to_int(jwk["q"]),
        d=base64_to_int(jwk["d"]),
        dmp1=base64_to_int(jwk["dp"]),
        dmq1=base64_to_int(jwk["dq"]),
        iqmp=base64_to_int(jwk["qi"]),
        public_numbers=RSAPublicNumbers(base64_to_int(jwk["e"]), base64_to_int(jwk["n"])),
    )
    return RSAKey(numbers.private_key(unsafe_skip_rsa_key_validation=True), jwk)


def _kid(key: Key) -> str:
    kid = key.kid
    assert kid is not None  # _generate always sets one
    return kid


def _alg(key: Key) -> str:
    alg = key.alg
    assert alg is not None  # _generate always sets one
    return alg


def _aad(kid: str) -> str:
    return f"signing_keys/{kid}"


def _signing_alg(alg: str) -> SigningAlgorithm:
    for known in SIGNING_ALGORITHMS:
        if known == alg:
            return known
    raise ValueError(f"{alg} is not a signing algorithm of the keyring")


async def _generate(alg: SigningAlgorithm) -> Key:
    params: KeyParameters = {"kid": random_id(f"{alg.lower()}-"), "alg": alg, "use": "sig"}
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", parameters=params)
    # RSA key generation takes tens to hundreds of milliseconds: keep it off the event loop.
    return await anyio.to_thread.run_sync(lambda: RSAKey.generate_key(RSA_KEY_BITS, params))


def _sorted_infos(infos: Iterable[KeyInfo]) -> tuple[KeyInfo, ...]:
    return tuple(
        sorted(infos, key=lambda i: (_STATE_ORDER[i.state], -i.created_at.timestamp(), i.kid))
    )


def _build_snapshot(infos: tuple[KeyInfo, ...], material: Mapping[str, _Material]) -> _Snapshot:
    active: dict[str, SigningKey] = {}
    for info in infos:  # newest first within a state, so the newest active key signs
        if info.state is KeyState.ACTIVE and info.alg not in active:
            active[info.alg] = material[info.kid].signing
    jwks = [material[info.kid].public.key.as_dict(private=False) for info in infos]
    body = json.dumps({"keys": jwks}, separators=(",", ":"), sort_keys=True).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return _Snapshot(infos, dict(material), active, JwksDocument(body, etag))
