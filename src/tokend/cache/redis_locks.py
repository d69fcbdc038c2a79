"""Locks across replicas on Redis (``tokend.cache.lock.open_locks`` picks them when Redis is
configured; this module, and redis-py with it, is imported only then)."""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import Final

import structlog
from redis.asyncio import Redis

from tokend.cache.base import CacheUnavailable
from tokend.cache.lock import poll_for_lock
from tokend.cache.redis import redis_errors_as_unavailable

log = structlog.get_logger("tokend.cache")

# Compare-and-delete: after our TTL lapsed another replica may hold the key; leave it alone.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# Many locks in one round trip each way (a sweep takes a batch at once). One token for the batch:
# the same holder releases them together. Acquire returns the 1-based positions of the keys taken.
_ACQUIRE_MANY: Final = """
local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    taken[#taken + 1] = i
  end
end
return taken
"""
_RELEASE_MANY: Final = """
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
"""


class RedisLocks:
    """``SET NX PX`` with a random token; release deletes the key only if it holds our token.

    Raises ``CacheUnavailable`` when Redis is down: there is no safe fallback, since another
    replica may still hold the lock in Redis.
    """

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = f"{key_prefix}lock:"
        self._release = client.register_script(_RELEASE)
        self._acquire_many = client.register_script(_ACQUIRE_MANY)
        self._release_many = client.register_script(_RELEASE_MANY)

    @asynccontextmanager
    async def hold(self, name: str, ttl_s: float, wait_s: float = 0.0) -> AsyncIterator[None]:
        key = self._prefix + name
        token = secrets.token_hex(16)
        ttl_ms = max(1, math.ceil(ttl_s * 1000))

        async def try_acquire() -> bool:
            with redis_errors_as_unavailable():
                return bool(await self._client.set(key, token, nx=True, px=ttl_ms))

        await poll_for_lock(name, try_acquire, wait_s)
        try:
            yield
        finally:
            await self._let_go(name, key, token)

    async def _let_go(self, name: str, key: str, token: str) -> None:
        try:
            with redis_errors_as_unavailable():
                released = await self._release(keys=[key], args=[token])
        except CacheUnavailable as exc:
            # Raising here would turn a finished block into a failure; the TTL frees the lock.
            log.warning("lock.release_failed", lock=name, error=exc.internal)
            return
        if not released:
            log.warning("lock.lapsed_before_release", lock=name)

    @asynccontextmanager
    async def hold_free(
        self, names: Collection[str], ttl_s: float
    ) -> AsyncIterator[frozenset[str]]:
        wanted = list(dict.fromkeys(names))  # SET NX would refuse a repeat anyway
        token = secrets.token_hex(16)
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        taken: list[str] = []
        if wanted:
            with redis_errors_as_unavailable():
                positions = await self._acquire_many(
                    keys=[self._prefix + name for name in wanted], args=[token, ttl_ms]
                )
            taken = [wanted[position - 1] for position in positions]
        try:
            yield frozenset(taken)
        finally:
            if taken:
                await self._let_go_many(taken, token)

    async def _let_go_many(self, names: list[str], token: str) -> None:
        try:
            with redis_errors_as_unavailable():
                released = await self._release_many(
                    keys=[self._prefix + name for name in names], args=[token]
                )
        except CacheUnavailable as exc:
            # As in _let_go: the block has finished, and the TTL frees the locks.
            log.warning("lock.release_failed", locks=len(names), error=exc.internal)
            return
        if released != len(names):
            log.warning("lock.lapsed_before_release", locks=len(names) - released)
