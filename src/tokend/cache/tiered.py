"""Memory in front of Redis, and memory alone while Redis is down.

Reads try memory, then Redis; a value found in Redis is kept in memory for at most
``memory_ttl_s`` (or its own TTL if shorter), so another replica's change shows here within
that bound. Writes go to Redis and memory.

When Redis fails, every operation carries on in memory: writes keep their full TTL there,
counters count there. Redis is left alone for ``retry_interval_s``; then one call tries it
again (a circuit breaker on the injected clock). When it answers, memory entries are cut back
to ``memory_ttl_s`` so the tiers agree again soon. What happened only in memory meanwhile is
not copied to Redis: writes and deletes made during an outage are seen by this replica only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal, TypeVar, get_args

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from tokend.cache.base import CacheUnavailable
from tokend.cache.memory import MemoryCache
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.core.clock import Clock
from tokend.obs.metrics import Children, CounterChild, Labelled, counter

if TYPE_CHECKING:  # redis-py is imported by a process with Redis configured only (open_cache)
    from redis.asyncio import Redis

    from tokend.cache.redis import RedisCache

R = TypeVar("R")

Op = Literal["get", "set", "delete", "incr", "expire"]
Tier = Literal["memory", "redis"]


class _Skipped(Enum):
    """Why ``_on_redis`` has no answer: no Redis, Redis resting after a failure, or failing."""

    REDIS = "redis"


SKIPPED: Final = _Skipped.REDIS


@dataclass(frozen=True, slots=True)
class CacheMetrics:
    requests: Labelled[CounterChild]
    fallbacks: Counter
    degraded: Gauge
    #: ``requests``' child per (tier, result): every cached lookup of a hot path counts.
    _lookups: Children[CounterChild] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookups", Children(self.requests))

    @classmethod
    def register(cls, registry: CollectorRegistry) -> CacheMetrics:
        metrics = cls(
            requests=counter(
                "tokend_cache_requests_total",
                "Cache lookups by tier and result.",
                ("tier", "result"),
                registry,
            ),
            fallbacks=Counter(
                "tokend_cache_fallbacks_total",
                "Operations served by the memory tier alone because Redis was down.",
                ("op",),
                registry=registry,
            ),
            degraded=Gauge(
                "tokend_cache_degraded",
                "1 while Redis is down and the memory tier serves alone.",
                registry=registry,
            ),
        )
        for op in get_args(Op):  # zeros from the start, so rate() and alerts see the series
            metrics.fallbacks.labels(op=op)
        return metrics

    def count_lookup(self, tier: Tier, value: bytes | None) -> None:
        self._lookups(tier, "miss" if value is None else "hit").inc()

    def count_lookups(self, tier: Tier, hits: int, misses: int) -> None:
        if hits:
            self._lookups(tier, "hit").inc(hits)
        if misses:
            self._lookups(tier, "miss").inc(misses)


class TieredCache:
    """The process's ``Cache``: never raises because of Redis."""

    def __init__(
        self,
        memory: MemoryCache,
        redis: RedisCache | None,
        *,
        registry: CollectorRegistry,
        clock: Clock,
        memory_ttl_s: float,
        retry_interval_s: float,
    ) -> None:
        self._memory = memory
        self._redis = redis
        self._metrics = CacheMetrics.register(registry)
        self._clock = clock
        self._memory_ttl_s = memory_ttl_s
        self._retry_interval_s = retry_interval_s
        self._down_since: float | None = None
        self._retry_at = 0.0
        # Per cache, not per module: a structlog logger keeps the processors of its first use,
        # and a process that builds several apps (tests) configures logging more than once.
        self._log = structlog.get_logger("tokend.cache")

    @property
    def redis_client(self) -> Redis | None:
        """The Redis pool, shared with the locks; None in memory-only mode. Closed by ``close``."""
        return None if self._redis is None else self._redis.client

    @property
    def is_degraded(self) -> bool:
        return self._down_since is not None

    async def get(self, key: str) -> bytes | None:
        value = await self._memory.get(key)
        self._metrics.count_lookup("memory", value)
        if value is not None:
            return value
        answer = await self._on_redis("get", lambda redis: redis.get_with_ttl(key))
        if answer is SKIPPED:
            return None
        value, ttl_left_s = answer
        self._metrics.count_lookup("redis", value)
        if value is not None:
            await self._memory.set(key, value, self._memory_ttl(ttl_left_s))
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """``get`` of each key, in order: memory first, then what memory lacks from Redis in
        one round trip (a transaction reading every value with its TTL)."""
        values = await self._memory.get_many(keys)
        missing = [i for i, value in enumerate(values) if value is None]
        self._metrics.count_lookups("memory", len(keys) - len(missing), len(missing))
        if not missing:
            return values
        wanted = [keys[i] for i in missing]
        answer = await self._on_redis("get", lambda redis: redis.get_many_with_ttl(wanted))
        if answer is SKIPPED:
            return values
        found = 0
        for i, (value, ttl_left_s) in zip(missing, answer, strict=True):
            if value is not None:
                found += 1
                values[i] = value
                await self._memory.set(keys[i], value, self._memory_ttl(ttl_left_s))
        self._metrics.count_lookups("redis", found, len(missing) - found)
        return values

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        answer = await self._on_redis("set", lambda redis: redis.set(key, value, ttl_s))
        # Without Redis, memory holds the only copy, so it keeps the whole TTL.
        memory_ttl_s = ttl_s if answer is SKIPPED else self._memory_ttl(ttl_s)
        await self._memory.set(key, value, memory_ttl_s)

    async def delete(self, key: str) -> None:
        await self._on_redis("delete", lambda redis: redis.delete(key))
        # After Redis: a concurrent get cannot then refill memory from the old Redis value.
        await self._memory.delete(key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        answer = await self._on_redis("incr", lambda redis: redis.incr_with_ttl(key, amount, ttl_s))
        if answer is SKIPPED:
            return await self._memory.incr(key, amount, ttl_s)
        value, ttl_left_s = answer
        # The copy lets the count go on from here should Redis fail before it expires.
        await self._memory.set(key, str(value).encode(), self._memory_ttl(ttl_left_s))
        return value

    async def expire(self, key: str, ttl_s: float) -> bool:
        answer = await self._on_redis("expire", lambda redis: redis.expire(key, ttl_s))
        if answer is SKIPPED:
            return await self._memory.expire(key, ttl_s)
        if answer:
            await self._memory.expire(key, self._memory_ttl(ttl_s))
        else:
            await self._memory.delete(key)
        return answer

    async def ping(self) -> None:
        """Never raises: the memory tier always answers. ``health`` says how well."""
        await self.health()

    async def health(self) -> str:
        """``ok`` (Redis answers), ``memory`` (no Redis configured) or ``degraded``.

        Degraded is still ready: every replica would leave the load balancer at once
        otherwise, while each of them can serve from memory.
        """
        if self._redis is None:
            return "memory"
        answer = await self._on_redis(None, lambda redis: redis.ping())
        return "degraded" if answer is SKIPPED else "ok"

    async def close(self) -> None:
        await self._memory.close()
        if self._redis is not None:
            await self._redis.close()

    async def _on_redis(
        self, op: Op | None, call: Callable[[RedisCache], Awaitable[R]]
    ) -> R | Literal[_Skipped.REDIS]:
        """Redis's answer, or SKIPPED when memory must answer alone (counted under ``op``)."""
        redis = self._redis
        if redis is None:
            return SKIPPED
        if not self._may_try_redis():
            self._count_fallback(op)
            return SKIPPED
        try:
            answer = await call(redis)
        except CacheUnavailable as exc:
            self._mark_down(op, exc)
            self._count_fallback(op)
            return SKIPPED
        self._mark_up()
        return answer

    def _may_try_redis(self) -> bool:
        if self._down_since is None:
            return True
        now = self._clock.monotonic()
        if now < self._retry_at:
            return False
        # This call is the probe; concurrent ones stay on memory until it answers or fails.
        self._retry_at = now + self._retry_interval_s
        return True

    def _mark_down(self, op: Op | None, exc: CacheUnavailable) -> None:
        now = self._clock.monotonic()
        self._retry_at = now + self._retry_interval_s
        if self._down_since is not None:
            return
        self._down_since = now
        self._metrics.degraded.set(1)
        # Neither keys nor the URL: keys can embed token hashes, the URL a password.
        self._log.warning(
            "cache.redis_degraded",
            op=op or "ping",
            error=exc.internal,
            retry_interval_s=self._retry_interval_s,
        )

    def _mark_up(self) -> None:
        if self._down_since is None:
            return
        down_for_s = self._clock.monotonic() - self._down_since
        self._down_since = None
        self._metrics.degraded.set(0)
        self._memory.shorten_ttls(self._memory_ttl_s)
        self._log.info("cache.redis_recovered", down_for_s=round(down_for_s, 3))

    def _count_fallback(self, op: Op | None) -> None:
        if op is not None:  # readiness probes are not traffic
            self._metrics.fallbacks.labels(op=op).inc()

    def _memory_ttl(self, ttl_s: float | None) -> float:
        return self._memory_ttl_s if ttl_s is None else min(ttl_s, self._memory_ttl_s)


def open_cache(
    redis: RedisSettings, cache: CacheSettings, registry: CollectorRegistry, clock: Clock
) -> TieredCache:
    """The process's cache; Redis connects lazily, so this never fails because Redis is down."""
    shared = None
    if redis.url is not None:
        from tokend.cache.redis import RedisCache  # redis-py: a tenth of a second to import

        shared = RedisCache.open(redis)
    return TieredCache(
        MemoryCache(cache.memory_max_items, clock),
        shared,
        registry=registry,
        clock=clock,
        memory_ttl_s=cache.memory_ttl_s,
        retry_interval_s=redis.retry_interval_s,
    )
