"""Phone numbers as keys: the E.164 form (ITU-T E.164, ``+`` and up to 15 digits) a stored
``phone_number`` (OIDC Core §5.1, free text) and a ``tel:`` URI (RFC 3966) are compared in."""

from __future__ import annotations

import re
from typing import Final

#: RFC 3966 §5.1.1 visual separators, and the spaces and parentheses people write.
_SEPARATORS: Final = re.compile(r"[\s().\-]")
_E164: Final = re.compile(r"^\+[1-9][0-9]{5,14}$")


def e164(number: str | None) -> str | None:
    """``number`` in E.164 (``+4915112345678``), or None when it is not a global number: no
    leading ``+`` (its country is unknown), an extension, or not digits."""
    if number is None or len(number) > 64 or ";" in number:
        return None
    compact = _SEPARATORS.sub("", number)
    return compact if _E164.match(compact) else None


def e164_of_tel_uri(uri: str) -> str | None:
    """RFC 3966 §3: the global number of ``tel:+...``; None for anything else (a local
    number, parameters such as ``;ext=``)."""
    if not uri.lower().startswith("tel:"):
        return None
    return e164(uri[4:])
