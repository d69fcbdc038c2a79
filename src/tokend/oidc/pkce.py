"""PKCE (RFC 7636): checking a code_verifier against the stored code_challenge."""

from __future__ import annotations

import hmac
import re
from typing import Final

from tokend.core.crypto import sha256_b64url

S256: Final = "S256"
PLAIN: Final = "plain"
#: RFC 7636 §4.1 (verifier) and §4.2 (an S256 challenge is a 43-character base64url string).
_VERIFIER: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def is_valid_challenge(challenge: str) -> bool:
    return _CHALLENGE.fullmatch(challenge) is not None


def s256(verifier: str) -> str:
    return sha256_b64url(verifier)


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    computed = s256(verifier) if method == S256 else verifier
    return hmac.compare_digest(computed.encode("ascii"), challenge.encode("ascii"))
