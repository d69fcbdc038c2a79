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
#: How stale a session's "last seen" may get before it is written again.
SEEN_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class BrowserSessions:
    store: SessionStore
    hasher: SecretHasher = field(repr=False)
    clock: Clock
    ttl_s: int

    async def current(self, cookie: str | None) -> Session | None:
        """The live session the cookie stands for, if any; its "last seen" is kept to the
        minute (written at most once a minute, not on every request)."""
        if not cookie or len(cookie) > MAX_COOKIE_LENGTH:
            return None
        now = self.clock.now()
        id_hash = self.hasher.hash(cookie)
        session = await self.store.get(id_hash, now)
        if session is not None and (
            session.last_seen_at is None or now - session.last_seen_at >= SEEN_EVERY
        ):
            await self.store.seen(id_hash, now)
        return session

    async def start(
        self,
        user_id: str,
        auth_time: datetime,
        *,
        amr: tuple[str, ...] = (),
        device: str = "",
        ip: str = "",
    ) -> str:
        """A new session of the user, signed in at ``auth_time`` with ``amr``, from ``device``
        (its User-Agent) at ``ip``; its cookie value."""
        cookie = random_secret(32)
        id_hash = self.hasher.hash(cookie)
        expires_at = auth_time + timedelta(seconds=self.ttl_s)
        session = Session(
            user_id, auth_time, expires_at, amr=amr, sid=_sid_of_hash(id_hash),
            device=device[:200], ip=ip[:64], last_seen_at=auth_time,
        )  # fmt: skip
        await self.store.create(id_hash, session)
        return cookie

    async def end(self, cookie: str) -> None:
        await self.store.end(self.hasher.hash(cookie))

    async def of_user(self, user_id: str) -> list[Session]:
        """The user's live sessions, latest sign-in first (the account page)."""
        return [s for _, s in await self.store.of_user(user_id, self.clock.now())]

    async def end_by_sid(self, user_id: str, sid: str) -> Session | None:
        """End the user's session with that public handle; what it was, or None.

        The one place where the account page (and the admin API) end a session one by one;
        ``Accounts.end_session`` then sends back-channel logout for it.
        """
        for id_hash, session in await self.store.of_user(user_id, self.clock.now()):
            if sid and session.sid == sid:
                await self.store.end(id_hash)
                return session
        return None

    def sid_of(self, cookie: str) -> str:
        """The session's ``sid`` (OpenID Back-Channel Logout §2.1), the same public handle the
        account page lists (``Session.sid``)."""
        return _sid_of_hash(self.hasher.hash(cookie))


def _sid_of_hash(id_hash: str) -> str:
    """A session's ``sid``: derived from the stored hash of its cookie, so it names the session
    in ID tokens, logout tokens and the account page without revealing anything that signs in."""
    return hashlib.sha256(f"tokend-sid:{id_hash}".encode()).hexdigest()[:32]
