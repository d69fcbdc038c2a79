"""Password guessing is throttled per address and account, never by locking the account.

A lockout (five failures lock the account for a while) lets anyone lock anyone out, and told
existing accounts from unknown ones. Instead:

- one address's failures on one account make that address wait (stacked windows: a backoff);
  other addresses, the owner's among them, are not slowed;
- when an account collects failures from many addresses, each address gets one guess instead
  of a full allowance, while an address without recent failures, the owner's, still signs in
  with the right password;
- counters are keyed by the address and a keyed hash of the email as typed, whether or not an
  account has it, so unknown and existing accounts are throttled and answered alike, and no
  email is written to the counter store. Only failures count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokend.core.crypto import SecretHasher
from tokend.oidc.rate_limits import RateLimits


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    limits: RateLimits
    hasher: SecretHasher = field(repr=False)
    ip: str
    email: str = field(repr=False)

    async def admit(self) -> None:
        """Raise RateLimited when this address must wait before its next attempt."""
        account, pair = self._keys()
        await self.limits.hit("login_per_ip", self.ip)
        await self.limits.check("login_failures_per_ip_account", pair)
        if await self.limits.is_over("login_failures_per_account", account):
            await self.limits.check("login_failures_per_ip_account_under_attack", pair)

    async def failed(self) -> None:
        """Count a failed sign-in (wrong password, unknown or disabled account)."""
        account, pair = self._keys()
        await self.limits.count("login_failures_per_ip_account", pair)
        await self.limits.count("login_failures_per_ip_account_under_attack", pair)
        await self.limits.count("login_failures_per_account", account)

    def _keys(self) -> tuple[str, str]:
        account = self.hasher.hash(f"login-account:{self.email.strip().lower()}")
        return account, f"{self.ip}|{account}"
