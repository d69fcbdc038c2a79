"""TOTP (RFC 6238) with pyotp, its enrolment QR code (segno, rendered here: the seed never
leaves the server for a QR service), and recovery codes. Pure functions, no I/O."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Final

import pyotp

#: RFC 6238 §4 defaults, which every authenticator app reads: 30 s steps, 6 digits, SHA-1.
STEP_S: Final = 30
DIGITS: Final = 6
#: Steps accepted either side of now (RFC 6238 §5.2 allows "one time step" of drift).
DRIFT_STEPS: Final = 1
RECOVERY_CODES: Final = 10
#: Lower-case letters and digits without look-alikes (0/o, 1/l/i).
_RECOVERY_ALPHABET: Final = "abcdefghjkmnpqrstuvwxyz23456789"


def new_seed() -> str:
    """A random 160-bit seed, base32 (RFC 4226 §4 recommends 160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(seed: str, account: str, issuer_name: str) -> str:
    """The ``otpauth://`` URI authenticator apps scan (Key Uri Format)."""
    return pyotp.TOTP(seed, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=account, issuer_name=issuer_name
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code, with a title for screen readers."""
    # Imported here: only an enrolment draws a QR code, and segno's import is ~50 ms of every
    # server start otherwise.
    import segno

    code = segno.make(uri, error="m")
    svg: str = code.svg_inline(scale=4, title="QR code to add this account to your app")
    return svg


def step_of(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_S


def matching_step(seed: str, code: str, now: datetime) -> int | None:
    """The time step whose code is ``code`` (now or one step either side), or None. The caller
    refuses a step at or before the last one accepted (replay, RFC 6238 §5.2)."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    otp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_S)
    current = step_of(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten codes of 10 characters (about 50 bits each), shown as ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalized_recovery_code(typed: str) -> str | None:
    """The code as stored (``xxxxx-xxxxx``), whatever case, spaces or dashes were typed."""
    raw = "".join(ch for ch in typed.lower() if ch.isalnum())
    if len(raw) != 10 or any(ch not in _RECOVERY_ALPHABET for ch in raw):
        return None
    return f"{raw[:5]}-{raw[5:]}"
