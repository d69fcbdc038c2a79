"""Opaque access tokens, validated by RFC 7662 introspection with a short cache.

Only the SHA-256 of a token is kept as the cache key. An answer is cached for at most
``cache_ttl_s`` and never past the token's own ``exp``; inactive answers are cached too, for the
same short time, so a flood of junk tokens costs one upstream call per token per interval.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

import httpx

from tokend.core.clock import Clock
from tokend.core.http import GuardedClient
from tokend.core.oauth_client import ClientAuth, ErrorResponse, MalformedResponse, OAuthClient
from tokend.guard.errors import KeycloakConnectionError, TokenValidationError
from tokend.guard.principal import Principal, principal_from_claims

MAX_ENTRIES: Final = 10_000


class TokenIntrospector:
    def __init__(
        self,
        endpoint: Callable[[], Awaitable[object]],
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        http: Callable[[], GuardedClient],
        clock: Clock,
        cache_ttl_s: float = 30,
        role_clients: Collection[str] = (),
        timeout_s: float = 5.0,
    ) -> None:
        self.issuer = issuer
        self.cache_ttl_s = cache_ttl_s
        self.calls = 0
        self._endpoint = endpoint
        # RFC 7662 §2.1: the caller authenticates; a Keycloak client uses client_secret_basic.
        self._auth = ClientAuth(client_id, "client_secret_basic", client_secret)
        self._http = http
        self._clock = clock
        self._role_clients = tuple(role_clients)
        self._timeout_s = timeout_s
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    def __repr__(self) -> str:
        return f"TokenIntrospector({self.issuer!r})"

    def clear(self) -> None:
        self._cache.clear()

    async def introspect(self, token: str) -> Principal:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal, ttl_s = await self._ask(token)
            if ttl_s > 0:
                self._cache[key] = (now + ttl_s, principal)
                if len(self._cache) > MAX_ENTRIES:
                    self._cache.popitem(last=False)
        if principal is None:
            raise TokenValidationError(internal="introspection: token is not active")
        return principal

    async def _ask(self, token: str) -> tuple[Principal | None, float]:
        url = await self._endpoint()
        if not isinstance(url, str):
            raise KeycloakConnectionError(internal="issuer has no introspection_endpoint")
        self.calls += 1
        client = OAuthClient(self._http(), self._auth, self._timeout_s)
        try:
            body = await client.introspect(url, token, "access_token")
        except httpx.HTTPError as exc:
            raise KeycloakConnectionError(internal=f"introspection: {type(exc).__name__}") from None
        except ErrorResponse as exc:
            raise KeycloakConnectionError(internal=f"introspection: HTTP {exc.status}") from None
        except MalformedResponse as exc:
            raise KeycloakConnectionError(internal=f"introspection: {exc}") from None
        return self._principal(body)

    def _principal(self, body: Mapping[str, Any]) -> tuple[Principal | None, float]:
        # RFC 7662 §2.2: "active" is the only required member; anything else is optional.
        if body.get("active") is not True:
            return None, self.cache_ttl_s
        issuer = body.get("iss", self.issuer)
        if issuer != self.issuer:
            return None, self.cache_ttl_s
        exp = body.get("exp")
        ttl_s = self.cache_ttl_s
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            remaining = exp - self._clock.now().timestamp()
            if remaining <= 0:
                return None, self.cache_ttl_s
            ttl_s = min(ttl_s, remaining)
        if not isinstance(body.get("sub"), str) and not isinstance(body.get("client_id"), str):
            return None, self.cache_ttl_s
        claims = dict(body)
        claims.setdefault("sub", body.get("client_id"))
        principal = principal_from_claims(
            claims, issuer=self.issuer, role_clients=self._role_clients, via="bearer"
        )
        return principal, ttl_s
