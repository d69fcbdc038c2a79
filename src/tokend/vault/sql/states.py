"""Seed 001 OAuth states: one-time, hashed, expiring, bound to a client (RFC 6749 §10.12)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import update

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher
from tokend.store.engine import Database
from tokend.vault.models import VaultOAuthState
from tokend.vault.records import ConsumedState


class SqlStates:
    """The connect flow's states; a PKCE verifier is kept encrypted beside its state's hash."""

    def __init__(self, database: Database, cipher: FieldCipher, clock: Clock) -> None:
        self._db = database
        self._cipher = cipher
        self._clock = clock

    async def save_state(
        self, client_pk: int, state_hash: str, code_verifier: str | None, ttl_s: float
    ) -> None:
        now = self._clock.now()
        async with self._db.sessions.begin() as session:
            row = VaultOAuthState(
                state_hash=state_hash,
                client_id=client_pk,
                code_verifier_enc=None,
                expires_at=now + timedelta(seconds=ttl_s),
                is_used=False,
                created_at=now,
            )
            if code_verifier is not None:
                row.code_verifier_enc = self._cipher.encrypt_text(
                    code_verifier, aad=f"vault:state:{state_hash}"
                )
            session.add(row)

    async def consume_state(
        self, candidates: Sequence[str], error: str | None = None
    ) -> ConsumedState | None:
        """Mark the state used, atomically; None when unknown, used already or expired."""
        now = self._clock.now()
        async with self._db.sessions.begin() as session:
            # One UPDATE decides: of two callbacks racing with one state, only one sees a row.
            result = await session.execute(
                update(VaultOAuthState)
                .where(
                    VaultOAuthState.state_hash.in_(candidates),
                    VaultOAuthState.is_used.is_(False),
                    VaultOAuthState.expires_at > now,
                )
                .values(is_used=True, error=error)
                .returning(
                    VaultOAuthState.client_id,
                    VaultOAuthState.state_hash,
                    VaultOAuthState.code_verifier_enc,
                )
            )
            found = result.first()
        if found is None:
            return None
        client_pk, state_hash, verifier_enc = found
        verifier = (
            self._cipher.decrypt_text(verifier_enc, aad=f"vault:state:{state_hash}")
            if verifier_enc
            else None
        )
        return ConsumedState(client_pk, verifier)
