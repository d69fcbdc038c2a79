"""Caching: a memory tier, a Redis tier and their composition; single-flight; locks.

``open_cache`` builds the process's one ``TieredCache`` (Redis behind memory when
``TOKEND_REDIS__URL`` is set, memory alone otherwise); ``open_locks`` picks Redis locks on the
same pool, or database locks without Redis.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from tokend.cache.base import Cache, CacheUnavailable
from tokend.cache.codec import get_json, set_json
from tokend.cache.lock import DatabaseLocks, LockNotAcquired, Locks, RedisLocks
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.config import CacheSettings, RedisSettings
from tokend.core.clock import Clock
from tokend.store.engine import Database

__all__ = [
    "Cache",
    "CacheUnavailable",
    "DatabaseLocks",
    "LockNotAcquired",
    "Locks",
    "MemoryCache",
    "RedisCache",
    "RedisLocks",
    "SingleFlight",
    "TieredCache",
    "get_json",
    "open_cache",
    "open_locks",
    "set_json",
]


def open_cache(
    redis: RedisSettings, cache: CacheSettings, registry: CollectorRegistry, clock: Clock
) -> TieredCache:
    """The process's cache; Redis connects lazily, so this never fails because Redis is down."""
    return TieredCache(
        MemoryCache(cache.memory_max_items, clock),
        RedisCache.open(redis) if redis.url is not None else None,
        registry=registry,
        clock=clock,
        memory_ttl_s=cache.memory_ttl_s,
        retry_interval_s=redis.retry_interval_s,
    )


def open_locks(redis: RedisSettings, database: Database, cache: TieredCache) -> Locks:
    """Redis locks on the cache's pool when it has one, database locks otherwise."""
    client = cache.redis_client
    if client is None:
        return DatabaseLocks(database)
    return RedisLocks(client, redis.key_prefix)
