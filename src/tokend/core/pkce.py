"""PKCE (RFC 7636), both sides: a client's verifier and S256 challenge, a server's check.

The one implementation: tokend's OIDC provider checks verifiers with it, and every client in
tokend (the vault's providers, the guard's login, the demo relying party) makes them with it.
"""

from __future__ import annotations

import hmac
import re
from typing import Final

from tokend.core.crypto import random_secret, sha256_b64url

S256: Final = "S256"
PLAIN: Final = "plain"
#: RFC 7636 §4.1 (verifier) and §4.2 (an S256 challenge is a 43-character base64url string).
_VERIFIER: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: RFC 7636 §7.1: at least 256 bits of entropy; 48 random bytes give 64 characters.
_VERIFIER_BYTES: Final = 48


def new_verifier() -> str:
    """RFC 7636 §4.1: a fresh high-entropy code_verifier."""
    return random_secret(_VERIFIER_BYTES)


def is_valid_challenge(challenge: str) -> bool:
    return _CHALLENGE.fullmatch(challenge) is not None


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: the S256 code_challenge of ``verifier``."""
    return sha256_b64url(verifier)


def verifier_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 §4.6, compared in constant time."""
    if _VERIFIER.fullmatch(verifier) is None:
        return False
    computed = s256(verifier) if method == S256 else verifier
    return hmac.compare_digest(computed.encode("ascii"), challenge.encode("ascii"))
