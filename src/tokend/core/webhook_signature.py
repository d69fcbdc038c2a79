"""Signed webhooks: the header tokend signs every webhook body with (the vault's connection
events, the OpenID provider's CIBA device webhook), so receivers verify one scheme.

``Tokend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``: the
timestamp is inside the MAC, so a receiver can refuse replays by it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "Tokend-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Tokend-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
