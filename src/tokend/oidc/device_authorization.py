"""The device authorization grant (RFC 8628): device and user codes, the verification page's
lookup, and its brute-force protection. The token endpoint's side is ``grants/device_code.py``;
the user approves on the provider's own sign-in and consent pages (``authorization_flow``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_secret
from tokend.core.errors import Conflict, UnauthorizedClient
from tokend.oidc.grants.device_code import GRANT_TYPE as DEVICE_CODE_GRANT
from tokend.oidc.grants.protocol import narrow_scopes
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import Client, DeviceAuthorization, DeviceStatus
from tokend.oidc.settings import DeviceFlowSettings
from tokend.oidc.stores import DeviceCodeStore

#: RFC 8628 §6.1: base-20 consonants: no digits or letters people confuse (0/O, 1/I/L are
#: gone with the vowels), and no vowels, so no words. 20^8 ≈ 2^34.6 codes.
USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH: Final = 8
#: Failed user-code entries per address (``rate_limits.device_user_code_failures_per_ip``).
FAILURES_RULE: Final = "device_user_code_failures_per_ip"


def new_user_code() -> str:
    """``BDWP-HQPK``: eight characters of :data:`USER_CODE_ALPHABET`, grouped by four."""
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(text: str) -> str | None:
    """RFC 8628 §6.1: case-insensitive, dashes and spaces ignored; None when it cannot be one."""
    raw = "".join(c for c in text[:64].upper() if c not in "- ")
    if len(raw) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in raw):
        return None
    return raw


@dataclass(frozen=True, slots=True)
class DeviceStarted:
    """RFC 8628 §3.2 device authorization response."""

    device_code: str = field(repr=False)
    user_code: str = field(repr=False)
    verification_uri: str
    expires_in: int
    interval: int

    def to_json(self) -> dict[str, object]:
        return {
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": self.verification_uri,
            # §3.3.1: the user code in the URI, for a QR code; the user still confirms.
            "verification_uri_complete": f"{self.verification_uri}?user_code={self.user_code}",
            "expires_in": self.expires_in,
            "interval": self.interval,
        }


@dataclass(frozen=True, slots=True)
class DeviceAuthorizations:
    store: DeviceCodeStore
    hasher: SecretHasher = field(repr=False)
    limits: RateLimits
    clock: Clock
    settings: DeviceFlowSettings
    issuer: str

    async def start(self, client: Client, scopes: frozenset[str] | None) -> DeviceStarted:
        """RFC 8628 §3.1: a new device code for ``client``."""
        if not client.allows_grant(DEVICE_CODE_GRANT):
            raise UnauthorizedClient("this client may not use the device authorization grant")
        granted = narrow_scopes(scopes, client.scopes)
        now = self.clock.now()
        device_code = random_secret(32)
        for attempt in range(3):
            user_code = new_user_code()
            try:
                await self.store.add(
                    DeviceAuthorization(
                        device_code_hash=self.hasher.hash(device_code),
                        user_code_hash=self.hasher.hash(normalize_user_code(user_code) or ""),
                        client_id=client.client_id,
                        scopes=granted,
                        status=DeviceStatus.PENDING,
                        interval_s=self.settings.interval_s,
                        next_poll_at=now,
                        expires_at=now + timedelta(seconds=self.settings.code_ttl_s),
                    )
                )
                break
            except Conflict:  # a pending code has this user code: draw again
                if attempt == 2:
                    raise
        return DeviceStarted(
            device_code=device_code,
            user_code=user_code,
            verification_uri=f"{self.issuer}/device",
            expires_in=self.settings.code_ttl_s,
            interval=self.settings.interval_s,
        )

    async def pending(self, entered: str, ip: str) -> DeviceAuthorization | None:
        """The pending authorization the user code someone typed names; None otherwise.

        RFC 8628 §5.1: user codes are short, so each address may get only so many wrong before
        it must wait (RateLimited); a right one is not counted.
        """
        await self.limits.check(FAILURES_RULE, ip)
        user_code = normalize_user_code(entered)
        found = None
        if user_code is not None:
            found = await self.store.pending(self.hasher.candidates(user_code), self.clock.now())
        if found is None:
            await self.limits.count(FAILURES_RULE, ip)
        return found

    async def purge(self) -> int:
        return await self.store.purge(self.clock.now())
