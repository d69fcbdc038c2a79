"""Issue and validate gateway tokens: caller → credential → token, in seed 004's check order."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.errors import TokendError
from tokend.gateway.callers import Caller, Callers, Presented
from tokend.gateway.credentials import CredentialResolver, Resolved
from tokend.gateway.errors import (
    ConsumerNotFound,
    JwtCreationFailed,
    MissingAuthorization,
    RateLimitExceeded,
)
from tokend.gateway.metrics import GatewayMetrics
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.tokens import GatewayTokens, TokenFacts, seed_claims
from tokend.gateway.tracing import Spans


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int


class GatewayService:
    def __init__(
        self,
        *,
        callers: Callers,
        resolver: CredentialResolver,
        tokens: GatewayTokens,
        settings: GatewaySettings,
        cache: TieredCache,
        clock: Clock,
        metrics: GatewayMetrics,
        spans: Spans,
    ) -> None:
        self._callers = callers
        self._resolver = resolver
        self._tokens = tokens
        self._settings = settings
        self._cache = cache
        self._clock = clock
        self._spans = spans
        self._jwt_seconds = metrics.jwt_creation.labels(tokens.alg)
        self._issued = metrics.tokens.labels("issued")
        self._issued_degraded = metrics.tokens.labels("degraded")

    async def issue(self, presented: Presented) -> IssuedToken:
        """``GET /tokens``: AUTH_001 → AUTH_007 → AUTH_009 → (AUTH_006) → lookup → sign."""
        caller = self._callers.identify(presented)
        if self._settings.rate_limit_per_minute is not None:
            await self._count_request(caller)
        resolved = await self._resolve(caller)
        credential = resolved.credential
        username = caller.username or credential.username or credential.consumer_id
        started = time.perf_counter()
        with self._spans("jwt_create", {"jwt.username": username}):
            claims = seed_claims(self._settings, credential, username, self._clock.now())
            try:
                token = self._tokens.mint(claims, credential)
            except (TokendError, ValueError, TypeError) as exc:
                raise JwtCreationFailed(internal=type(exc).__name__) from None
        self._jwt_seconds.observe(time.perf_counter() - started)
        (self._issued_degraded if resolved.is_degraded else self._issued).inc()
        return IssuedToken(token, self._settings.token_ttl_s)

    async def validate(self, presented: Presented, authorization: str | None) -> TokenFacts:
        """``GET /tokens/validate``: AUTH_012 → caller (AUTH_001/007/009) → AUTH_002 → token."""
        token = bearer_token(authorization)
        caller = self._callers.identify(presented)
        credential = (await self._resolve(caller)).credential
        return self._tokens.verify(token, credential, caller.username or credential.username)

    async def _resolve(self, caller: Caller) -> Resolved:
        resolved = await self._resolver.resolve(caller.lookup)
        for lookup in caller.fallback_lookups:
            if resolved is not None:
                break
            resolved = await self._resolver.resolve(lookup)
        if resolved is None:
            details = {"consumerId": caller.consumer_id} if caller.consumer_id else None
            raise ConsumerNotFound(details=details)
        return resolved

    async def _count_request(self, caller: Caller) -> None:
        limit = self._settings.rate_limit_per_minute
        now = self._clock.now().timestamp()
        window = int(now // 60)
        count = await self._cache.incr(f"gateway:rate:{caller.lookup}:{window}", 1, ttl_s=60)
        if limit is not None and count > limit:
            retry_after = max(1, int((window + 1) * 60 - now))
            raise RateLimitExceeded(
                headers={"Retry-After": str(retry_after)},
                details={"limit": limit, "retryAfter": retry_after},
            )


def bearer_token(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>`` (seed 004: AUTH_012, then AUTH_011)."""
    # Seed 004: the value is trimmed first, so "Bearer " with nothing after is "Bearer": missing.
    value = (authorization or "").strip()
    if not value.startswith("Bearer "):
        raise MissingAuthorization()
    # Trimmed and starting with "Bearer ", so the token is never empty (the seed's "Token
    # cannot be empty" AUTH_011 cannot happen).
    return value[len("Bearer ") :].strip()
