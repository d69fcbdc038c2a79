"""The ``state`` of a redirect to an upstream (RFC 6749 §10.12, RFC 9700 §4.7.1): random, kept
server-side in the shared cache (any replica takes the callback) for ``ttl_s``, used once (the
first callback on any replica wins: ``cache.once``), and bound to the browser that left: the
state keeps the hash of a random value the browser holds in a cookie, so a callback URL sent to
someone else (login CSRF: signing a victim in to the attacker's account) does not work.

With it: the PKCE verifier (RFC 7636 §4.1), the OIDC nonce (OIDC Core §3.1.2.1), and what the
redirect was for: an interaction's sign-in, or linking to a signed-in user's account. The cache
key is a hash of the state, so what the cache holds does not finish a callback by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from typing import Final

from tokend.cache.base import Cache
from tokend.cache.codec import get_json, set_json
from tokend.cache.once import first_use
from tokend.core.crypto import random_secret

_NAMESPACE: Final = "upstream-state"
_MAX_STATE: Final = 128


@dataclass(frozen=True, slots=True)
class PendingRedirect:
    upstream_id: str
    #: The interaction to sign in to; None when linking.
    interaction_uid: str | None
    #: The signed-in user to link the upstream account to; None when signing in.
    link_user_id: str | None
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    #: SHA-256 of the browser's binding cookie.
    binding_hash: str = field(repr=False)

    def is_bound_to(self, binding: str | None) -> bool:
        if not binding:
            return False
        return hmac.compare_digest(_digest(binding), self.binding_hash)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(state: str) -> str:
    return f"oidc:{_NAMESPACE}:{_digest(state)}"


@dataclass(frozen=True, slots=True)
class UpstreamStates:
    cache: Cache
    ttl_s: float

    @staticmethod
    def new_binding() -> tuple[str, str]:
        """A fresh browser binding: (the cookie's value, its hash to keep)."""
        value = random_secret(24)
        return value, _digest(value)

    async def issue(self, pending: PendingRedirect) -> str:
        """A new state for ``pending``."""
        state = random_secret(32)
        await set_json(self.cache, _key(state), asdict(pending), self.ttl_s)
        return state

    async def take(self, state: str) -> PendingRedirect | None:
        """What ``state`` was issued for, once; None when unknown, expired or used already."""
        if not state or len(state) > _MAX_STATE:
            return None
        data = await get_json(self.cache, _key(state))
        if not isinstance(data, dict):
            return None
        if not await first_use(self.cache, _NAMESPACE, state, self.ttl_s):
            return None
        await self.cache.delete(_key(state))
        try:
            return PendingRedirect(**{k: data[k] for k in PendingRedirect.__dataclass_fields__})
        except (KeyError, TypeError):
            return None
