"""Rate limits with the ``limits`` library: sliding-window counters, in Redis when configured
(shared by every replica), in memory otherwise. 429 with ``Retry-After`` when exceeded.

A limiter that cannot reach Redis lets the request through and logs it: an outage of the
counter store must not lock every user out.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from tokend.core.errors import RateLimited
from tokend.oidc.settings import RateLimitSettings

if TYPE_CHECKING:  # redis-py is imported only where Redis is configured (tokend.cache.redis)
    from redis.asyncio import Redis

log = structlog.get_logger("tokend.oidc.rate_limits")


class RateLimits:
    def __init__(self, settings: RateLimitSettings, storage: Storage) -> None:
        self._enabled = settings.enabled
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        # A rule is one window or several stacked ("10/minute;30/hour"): all of them apply.
        self._rules: dict[str, tuple[RateLimitItem, ...]] = {
            name: tuple(parse_many(value)) if value else ()
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
        for item in self._items(rule):
            try:
                if await self._limiter.hit(item, rule, key):
                    continue
            except Exception as exc:  # the counter store is down: fail open, say so
                _unavailable(rule, exc)
                return
            raise await self._refusal(rule, item, key)

    async def check(self, rule: str, key: str) -> None:
        """Raise RateLimited when ``key`` has used up ``rule``; counts nothing (``count`` does)."""
        for item in self._items(rule):
            try:
                if await self._limiter.test(item, rule, key):
                    continue
            except Exception as exc:
                _unavailable(rule, exc)
                return
            raise await self._refusal(rule, item, key)

    async def is_over(self, rule: str, key: str) -> bool:
        """Whether ``key`` has used up ``rule``; counts nothing."""
        try:
            await self.check(rule, key)
        except RateLimited:
            return True
        return False

    async def count(self, rule: str, key: str) -> None:
        """Count one event (a failure) against ``rule`` for ``key``; never refuses."""
        for item in self._items(rule):
            try:
                await self._limiter.hit(item, rule, key)
            except Exception as exc:
                _unavailable(rule, exc)
                return

    async def hit_token(self, client_id: str, ip: str) -> None:
        await self.hit("token_per_client", client_id)
        await self.hit("token_per_ip", ip)

    async def reset(self) -> None:
        await self._limiter.storage.reset()

    def _items(self, rule: str) -> tuple[RateLimitItem, ...]:
        items = self._rules[rule]
        return items if self._enabled else ()

    async def _refusal(self, rule: str, item: RateLimitItem, key: str) -> RateLimited:
        try:
            stats = await self._limiter.get_window_stats(item, rule, key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as exc:
            _unavailable(rule, exc)
            retry_after = item.get_expiry()
        return RateLimited(
            "Too many attempts; try again later.",
            internal=f"rate limit {rule}",
            headers={"Retry-After": str(retry_after)},
        )


def _unavailable(rule: str, exc: Exception) -> None:
    log.warning("rate_limit.unavailable", rule=rule, error=type(exc).__name__)
