"""Authentication Method Reference values (RFC 8176) of a sign-in, from the factors used.

One small function so the ``amr`` claim is worked out in one place, whichever way the user
signed in (password, TOTP, recovery code, passkey).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum


class Factor(StrEnum):
    """What the user proved during a sign-in."""

    PASSWORD = "password"  # noqa: S105  (a factor's name)
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"
    #: A passkey (WebAuthn): hardware- or software-bound key, user verified when ``uv`` held.
    PASSKEY = "passkey"
    PASSKEY_USER_VERIFIED = "passkey_uv"


#: RFC 8176 §2: pwd (password), otp (one-time password: TOTP and recovery codes alike),
#: hwk (proof of possession of a hardware-secured key: a passkey), user (user presence and
#: verification by the authenticator: biometric or PIN).
_METHODS: dict[Factor, tuple[str, ...]] = {
    Factor.PASSWORD: ("pwd",),
    Factor.TOTP: ("otp",),
    Factor.RECOVERY_CODE: ("otp",),
    Factor.PASSKEY: ("hwk",),
    Factor.PASSKEY_USER_VERIFIED: ("hwk", "user"),
}
#: What counts as a distinct factor kind for ``mfa`` (RFC 8176 §2: "multiple-factor
#: authentication"): something known (pwd), something held (otp, hwk), something one is or a
#: PIN the authenticator checked (user).
_KINDS: dict[str, str] = {"pwd": "know", "otp": "have", "hwk": "have", "user": "are"}


def amr_of(factors: Collection[Factor]) -> list[str]:
    """The ``amr`` values for a sign-in with ``factors``, sorted; ``mfa`` when they span at
    least two kinds (a password and a code; a passkey with user verification)."""
    methods = {method for factor in factors for method in _METHODS[factor]}
    if len({_KINDS[m] for m in methods}) >= 2:
        methods.add("mfa")
    return sorted(methods)


def amr_after_upstream(upstream: Collection[str], factor: Factor) -> list[str]:
    """The ``amr`` of an upstream identity provider's sign-in (its RFC 8176 methods) followed
    by ``factor`` here, sorted: always ``mfa`` (RFC 8176 §2), the code being proved to this
    provider apart from whatever the upstream checked."""
    return sorted({*upstream, *_METHODS[factor], "mfa"})
