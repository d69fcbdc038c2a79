"""The two ways a caller names a subscriber: seed ``mcc`` + ``sn``, or an E.164 number."""

from __future__ import annotations

import re
from typing import Final

from tokend.core.errors import BadRequest

#: ITU-T E.164 §6.1: at most 15 digits; the seed's ``len(mcc)+len(sn) <= 15`` check agrees.
MAX_DIGITS: Final = 15
_E164: Final = re.compile(r"\+[0-9]{1,15}")
#: ITU-T E.164 assigned two-digit country codes; 1 and 7 are the one-digit ones, the rest have 3.
_TWO_DIGIT_CODES: Final = frozenset(
    (  # noqa: SIM905  (a table is easier to check against ITU-T E.164 as text)
        "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
        "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98"
    ).split()
)
# RFC 3966 §5.1.1 visual separators, dropped before the digits are read.
_SEPARATORS: Final = str.maketrans("", "", "-.() ")


class MalformedNumber(BadRequest):
    default_description = "The subscriber number is malformed."


def digits_of_query(mcc: str | None, sn: str | None) -> str:
    """``mcc + sn`` once both are checked (seed 000 ``TelecomIdentifierDTO``, digits enforced)."""
    if not mcc or len(mcc) > 3 or not mcc.isascii() or not mcc.isdigit():
        raise MalformedNumber("MCC must be between 1 to 3 digits")
    if not sn:
        raise MalformedNumber("SN cannot be empty")
    if not sn.isascii() or not sn.isdigit():
        raise MalformedNumber("SN must contain digits only")
    if len(mcc) + len(sn) > MAX_DIGITS:
        raise MalformedNumber("Total length must be less than 15")
    return mcc + sn


def digits_of_number(number: str) -> str:
    """The digits of ``tel:+972...`` or ``+972...`` (RFC 3966 global number, E.164)."""
    value = number.strip()
    if value[:4].lower() == "tel:":
        value = value[4:]
    value = value.translate(_SEPARATORS)
    if not _E164.fullmatch(value):
        raise MalformedNumber("phone number must be E.164: '+' and 1 to 15 digits")
    return value[1:]


def country_code_length(digits: str) -> int:
    """Length of the E.164 country code that ``digits`` (international form) starts with."""
    if digits[:1] in ("1", "7"):
        return 1
    return 2 if digits[:2] in _TWO_DIGIT_CODES else 3


def lookup_forms(digits: str) -> tuple[str, str]:
    """The international digits, then the seed's national form of the same number.

    Seed 000 directories key on ``mcc + sn`` as users type them, with the national trunk
    prefix (``972`` + ``0527464600``), so ``+972527464600`` is also tried as ``9720527464600``.
    """
    cc = country_code_length(digits)
    return digits, digits[:cc] + "0" + digits[cc:]
