"""Sign-in sessions of browsers: the session cookie's value is the secret, the store keeps only
its hash (``SessionStore``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_secret
from tokend.oidc.records import Session
from tokend.oidc.stores import SessionStore

#: Longer than any cookie value this provider sets: looked up nowhere.
MAX_COOKIE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class BrowserSessions:
    store: SessionStore
    hasher: SecretHasher = field(repr=False)
    clock: Clock
    ttl_s: int

    async def current(self, cookie: str | None) -> Session | None:
        """The live session the cookie stands for, if any."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        return await self.store.get(self.hasher.hash(cookie), self.clock.now())

    async def start(self, user_id: str, auth_time: datetime) -> str:
        """A new session of the user, signed in at ``auth_time``; its cookie value."""
        cookie = random_secret(32)
        expires_at = auth_time + timedelta(seconds=self.ttl_s)
        await self.store.create(self.hasher.hash(cookie), Session(user_id, auth_time, expires_at))
        return cookie

    async def end(self, cookie: str) -> None:
        await self.store.end(self.hasher.hash(cookie))

    def sid_of(self, cookie: str) -> str:
        """The session's ``sid`` (OpenID Back-Channel Logout §2.1): derived from the stored hash
        of its cookie, so it names the session without revealing anything that signs in."""
        digest = hashlib.sha256(f"tokend-sid:{self.hasher.hash(cookie)}".encode()).hexdigest()
        return digest[:32]
