"""Second factors: a TOTP authenticator (RFC 6238) and ten one-time recovery codes per user.

The seed is stored encrypted (``FieldCipher``, AES-256-GCM, bound to the user id: a seed
copied to another row does not decrypt); recovery codes only as ``SecretHasher`` hashes, shown
once when made. A code of a time step already accepted is refused (RFC 6238 §5.2). Wrong codes
are throttled per address and user with stacked windows (a backoff), never by locking the
account: whoever reached this step knew the password, and must not be able to keep the owner
out (the owner's own address is not slowed by an attacker's failures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import Conflict, RateLimited
from tokend.oidc.amr import Factor
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import TotpFactor, User
from tokend.oidc.stores import FactorStore
from tokend.oidc.totp import (
    matching_step,
    new_recovery_codes,
    new_seed,
    normalized_recovery_code,
    provisioning_uri,
    qr_svg,
)

#: The name authenticator apps show above the account.
APP_LABEL: Final = "tokend"


@dataclass(frozen=True, slots=True)
class FactorStatus:
    totp: bool
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """What the enrolment page shows once: the QR code, and the seed for typing it in."""

    seed: str = field(repr=False)
    uri: str = field(repr=False)
    qr_svg: str = field(repr=False)


def _aad(user_id: str) -> str:
    return f"oidc_totp:{user_id}"


@dataclass(frozen=True, slots=True)
class SecondFactors:
    store: FactorStore
    cipher: FieldCipher = field(repr=False)
    hasher: SecretHasher = field(repr=False)
    limits: RateLimits
    audit: Audit
    clock: Clock
    issuer_label: str = APP_LABEL

    async def status(self, user_id: str) -> FactorStatus:
        factor = await self.store.totp(user_id)
        confirmed = factor is not None and factor.confirmed
        return FactorStatus(confirmed, await self.store.recovery_codes_left(user_id))

    async def is_required(self, user_id: str) -> bool:
        """Whether the user must give a second factor after the password."""
        factor = await self.store.totp(user_id)
        return factor is not None and factor.confirmed

    async def begin_totp(self, user: User) -> TotpEnrolment:
        """A new, unconfirmed authenticator, replacing an unconfirmed one. Raises Conflict when
        a confirmed one exists: the user removes it first, so an account has one seed."""
        current = await self.store.totp(user.id)
        if current is not None and current.confirmed:
            raise Conflict("remove the authenticator you have before adding another")
        seed = new_seed()
        await self.store.save_totp(
            TotpFactor(
                user_id=user.id,
                seed_enc=self.cipher.encrypt_text(seed, aad=_aad(user.id)),
                confirmed=False,
                last_step=0,
                created_at=self.clock.now(),
            )
        )
        uri = provisioning_uri(seed, user.email, self.issuer_label)
        return TotpEnrolment(seed, uri, qr_svg(uri))

    async def pending_enrolment(self, user: User) -> TotpEnrolment | None:
        """The unconfirmed authenticator's QR code again (the page was reloaded)."""
        factor = await self.store.totp(user.id)
        if factor is None or factor.confirmed:
            return None
        seed = self.cipher.decrypt_text(factor.seed_enc, aad=_aad(user.id))
        uri = provisioning_uri(seed, user.email, self.issuer_label)
        return TotpEnrolment(seed, uri, qr_svg(uri))

    async def confirm_totp(self, user_id: str, code: str, ip: str) -> list[str] | None:
        """Confirm the new authenticator with its first code; the recovery codes (shown once),
        or None when the code is wrong. Raises RateLimited."""
        factor = await self.store.totp(user_id)
        if factor is None or factor.confirmed:
            return None
        if not await self._totp_matches(factor, code, ip, confirm=True):
            return None
        await self.audit.account_event(AuditEvent.FACTOR_ENROLLED, user_id, "totp", factor="totp")
        codes = await self._replace_recovery_codes(user_id)
        # The notice of the new authenticator covers its first codes: one mail, not two.
        self.audit.record(AuditEvent.RECOVERY_CODES_MADE, user_id=user_id)
        return codes

    async def new_recovery_codes(self, user_id: str) -> list[str]:
        """Ten new codes replacing the old ones; shown once, stored as hashes."""
        codes = await self._replace_recovery_codes(user_id)
        await self.audit.account_event(AuditEvent.RECOVERY_CODES_MADE, user_id)
        return codes

    async def _replace_recovery_codes(self, user_id: str) -> list[str]:
        codes = new_recovery_codes()
        await self.store.replace_recovery_codes(user_id, [self.hasher.hash(c) for c in codes])
        return codes

    async def verify(self, user_id: str, code: str, ip: str) -> Factor | None:
        """Check a TOTP or recovery code at sign-in; the factor it proved, or None. Raises
        RateLimited when this address must wait."""
        factor = await self.store.totp(user_id)
        if factor is None or not factor.confirmed:
            return None
        recovery = normalized_recovery_code(code)
        if recovery is not None:
            await self._admit(user_id, ip)
            candidates = self.hasher.candidates(recovery)
            if await self.store.use_recovery_code(user_id, candidates, self.clock.now()):
                await self.audit.account_event(AuditEvent.RECOVERY_CODE_USED, user_id)
                return Factor.RECOVERY_CODE
            await self._failed(user_id, ip)
            return None
        if await self._totp_matches(factor, code, ip, confirm=False):
            return Factor.TOTP
        return None

    async def remove(self, user_id: str, reason: str) -> bool:
        """Delete the authenticator and recovery codes (the user, or an admin's reset)."""
        removed = await self.store.forget(user_id)
        if removed:
            await self.audit.account_event(
                AuditEvent.FACTOR_REMOVED, user_id, "totp", reason=reason
            )
        return removed

    async def _totp_matches(self, factor: TotpFactor, code: str, ip: str, confirm: bool) -> bool:
        await self._admit(factor.user_id, ip)
        seed = self.cipher.decrypt_text(factor.seed_enc, aad=_aad(factor.user_id))
        step = matching_step(seed, code, self.clock.now())
        # RFC 6238 §5.2: a code of a step already accepted is a replay, refused like a wrong
        # one; the store's compare-and-set makes two concurrent uses of one code one success.
        if step is not None and await self.store.advance_totp(factor.user_id, step, confirm):
            return True
        await self._failed(factor.user_id, ip)
        return False

    async def _admit(self, user_id: str, ip: str) -> None:
        pair = f"{ip}|{user_id}"
        try:
            await self.limits.check("second_factor_failures_per_ip_user", pair)
            if await self.limits.is_over("second_factor_failures_per_user", user_id):
                await self.limits.check("second_factor_failures_per_ip_user_under_attack", pair)
        except RateLimited:
            self.audit.record(AuditEvent.SECOND_FACTOR_FAILED, user_id=user_id, reason="throttled")
            raise

    async def _failed(self, user_id: str, ip: str) -> None:
        pair = f"{ip}|{user_id}"
        self.audit.record(AuditEvent.SECOND_FACTOR_FAILED, user_id=user_id, reason="wrong_code")
        await self.limits.count("second_factor_failures_per_ip_user", pair)
        await self.limits.count("second_factor_failures_per_ip_user_under_attack", pair)
        await self.limits.count("second_factor_failures_per_user", user_id)
