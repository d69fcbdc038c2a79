"""Rate limits with the ``limits`` library: sliding-window counters, in Redis when configured
(shared by every replica), in memory otherwise. 429 with ``Retry-After`` when exceeded.

A limiter that cannot reach Redis lets the request through and logs it: an outage of the
counter store must not lock every user out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis
from starlette.requests import Request

from tokend.core.errors import RateLimited
from tokend.oidc.settings import RateLimitSettings

log = structlog.get_logger("tokend.oidc.rate_limits")


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    item: RateLimitItem | None


class RateLimits:
    def __init__(self, settings: RateLimitSettings, storage: Storage) -> None:
        self._enabled = settings.enabled
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._rules = {
            name: _Rule(name, parse(value) if value else None)
            for name, value in settings.model_dump(exclude={"enabled"}).items()
        }

    @classmethod
    def open(
        cls, settings: RateLimitSettings, redis: Redis | None, key_prefix: str = "tokend:"
    ) -> RateLimits:
        """Counters in ``redis`` (the process's one pool, closed by its owner) or in memory."""
        if redis is None:
            return cls(settings, MemoryStorage())
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=f"{key_prefix}limits",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed on to redis-py
        )
        return cls(settings, storage)

    async def hit(self, rule: str, key: str) -> None:
        """Count one attempt against ``rule`` for ``key``; raise RateLimited when over."""
        item = self._rules[rule].item
        if not self._enabled or item is None:
            return
        try:
            allowed = await self._limiter.hit(item, rule, key)
            if allowed:
                return
            stats = await self._limiter.get_window_stats(item, rule, key)
        except Exception as exc:  # the counter store is down: fail open, say so
            log.warning("rate_limit.unavailable", rule=rule, error=type(exc).__name__)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            "Too many attempts; try again later.",
            internal=f"rate limit {rule}",
            headers={"Retry-After": str(retry_after)},
        )

    async def hit_token(self, client_id: str, request: Request) -> None:
        await self.hit("token_per_client", client_id)
        await self.hit("token_per_ip", client_ip(request))

    async def reset(self) -> None:
        await self._limiter.storage.reset()


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"
