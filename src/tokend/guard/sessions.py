"""Server-side browser sessions in the spine's cache.

The cookie holds only a random id. The cache key is an HMAC of that id under the session secret,
so a dump of Redis yields no usable cookie, and the value (tokens included) is AES-GCM encrypted
under a key derived from the same secret, bound to its cache key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from typing import Any

from tokend.cache.base import Cache
from tokend.core.crypto import DecryptionFailed, FieldCipher, random_secret
from tokend.guard.principal import Principal, principal_from_claims

LOGIN_TTL_S = 600


@dataclass(frozen=True, slots=True)
class SessionData:
    issuer: str
    claims: dict[str, Any] = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    #: Epoch seconds when the access token expires.
    expires_at: float = 0.0


@dataclass(frozen=True, slots=True)
class LoginState:
    """What /login remembers until /callback: one use, ten minutes."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    return_to: str = "/"


class SessionStore:
    def __init__(
        self,
        cache: Callable[[], Cache],
        secret: str,
        *,
        ttl_s: int,
        role_clients: Collection[str] = (),
    ) -> None:
        self.ttl_s = ttl_s
        self._cache = cache
        # Own keys for sessions even when the secret is tokend's main one (domain separation).
        self._secret = b"tokend.guard.session-id:" + secret.encode()
        self._cipher = FieldCipher.from_secrets("tokend.guard.session:" + secret)
        self._role_clients = tuple(role_clients)

    def __repr__(self) -> str:
        return "SessionStore()"

    # -- sessions ------------------------------------------------------------------------------
    async def create(self, data: SessionData) -> str:
        session_id = random_secret(32)
        await self.save(session_id, data)
        return session_id

    async def save(self, session_id: str, data: SessionData) -> None:
        await self._put(self._key("session", session_id), asdict(data), self.ttl_s)

    async def get(self, session_id: str) -> SessionData | None:
        raw = await self._read(self._key("session", session_id))
        if raw is None:
            return None
        try:
            return SessionData(**raw)
        except TypeError:
            return None

    async def delete(self, session_id: str) -> None:
        await self._cache().delete(self._key("session", session_id))

    async def principal(self, session_id: str) -> Principal | None:
        data = await self.get(session_id)
        if data is None:
            return None
        return principal_from_claims(
            data.claims, issuer=data.issuer, role_clients=self._role_clients, via="session"
        )

    # -- login state ---------------------------------------------------------------------------
    async def begin_login(self, login: LoginState) -> str:
        login_id = random_secret(24)
        await self._put(self._key("login", login_id), asdict(login), LOGIN_TTL_S)
        return login_id

    async def finish_login(self, login_id: str) -> LoginState | None:
        """The login state, once: a replayed callback finds nothing."""
        key = self._key("login", login_id)
        # Single use across replicas: only the first incr sees 1.
        if await self._cache().incr(key + ":used", 1, ttl_s=LOGIN_TTL_S) != 1:
            return None
        raw = await self._read(key)
        await self._cache().delete(key)
        if raw is None:
            return None
        try:
            return LoginState(**raw)
        except TypeError:
            return None

    # -- storage -------------------------------------------------------------------------------
    def _key(self, kind: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"guard:{kind}:{digest}"

    async def _put(self, key: str, value: dict[str, Any], ttl_s: float) -> None:
        sealed = self._cipher.encrypt(json.dumps(value).encode(), aad=key.encode())
        await self._cache().set(key, sealed.encode(), ttl_s)

    async def _read(self, key: str) -> dict[str, Any] | None:
        sealed = await self._cache().get(key)
        if sealed is None:
            return None
        try:
            value = json.loads(self._cipher.decrypt(sealed.decode(), aad=key.encode()))
        except (DecryptionFailed, ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None
