"""The shared tier: Redis through one ``redis.asyncio`` pool, every key under one prefix."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from tokend.cache.base import CacheUnavailable
from tokend.cache.settings import RedisSettings

# INCRBY and the TTL of a new key in one atomic step, so a counter never lives forever because
# the process died between two commands. Returns the new value and the TTL left in ms (-1: none).
_INCR_WITH_TTL: Final = """
local existed = redis.call('EXISTS', KEYS[1])
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {value, redis.call('PTTL', KEYS[1])}
"""

# Redis answers these for a value INCRBY cannot count with: the caller's mistake, not an outage.
_COUNTER_ERRORS: Final = ("not an integer", "would overflow")


def open_redis_client(settings: RedisSettings) -> Redis:
    """The process's one Redis pool (the caller closes it with ``aclose``)."""
    if settings.url is None:
        raise ValueError("Redis is not configured: set TOKEND_REDIS__URL")
    return Redis.from_url(
        settings.url.get_secret_value(),
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.socket_timeout_s,
        # No retries: INCRBY is not idempotent, so a resend after a lost reply could count
        # twice; and TieredCache already answers from memory and tries Redis again later.
        # Stale pooled connections (a Redis restart) are replaced at checkout anyway.
        retry=Retry(NoBackoff(), 0),
    )


class RedisCache:
    """A ``Cache`` on Redis. Raises ``CacheUnavailable`` when Redis cannot answer."""

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._incr_with_ttl = client.register_script(_INCR_WITH_TTL)

    @classmethod
    def open(cls, settings: RedisSettings) -> RedisCache:
        return cls(open_redis_client(settings), settings.key_prefix)

    @property
    def client(self) -> Redis:
        """The pool, for other Redis users of this process (locks); this cache closes it."""
        return self._client

    @property
    def key_prefix(self) -> str:
        return self._prefix

    async def get(self, key: str) -> bytes | None:
        with redis_errors_as_unavailable():
            return _as_bytes(await self._client.get(self._prefix + key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        with redis_errors_as_unavailable():
            raws = await self._client.mget([self._prefix + key for key in keys])
        return [_as_bytes(raw) for raw in raws]

    async def get_with_ttl(self, key: str) -> tuple[bytes | None, float | None]:
        """The value and the seconds it has left (None: no TTL), read atomically."""
        ((value, ttl_left_s),) = await self.get_many_with_ttl((key,))
        return value, ttl_left_s

    async def get_many_with_ttl(
        self, keys: Sequence[str]
    ) -> list[tuple[bytes | None, float | None]]:
        """``get_with_ttl`` of each key, all read atomically in one round trip (MULTI/EXEC)."""
        pipe = self._client.pipeline(transaction=True)
        for key in keys:
            pipe.get(self._prefix + key)
            pipe.pttl(self._prefix + key)
        with redis_errors_as_unavailable():
            replies = await pipe.execute()
        answers: list[tuple[bytes | None, float | None]] = []
        for raw, ttl_ms in zip(replies[0::2], replies[1::2], strict=True):
            value = _as_bytes(raw)
            answers.append((value, _seconds(int(ttl_ms)) if value is not None else None))
        return answers

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        with redis_errors_as_unavailable():
            if ttl_s is None:
                await self._client.set(self._prefix + key, value)
            elif _millis(ttl_s) > 0:
                await self._client.set(self._prefix + key, value, px=_millis(ttl_s))
            else:
                # SET refuses PX 0; an already expired value is a deleted one.
                await self._client.delete(self._prefix + key)

    async def delete(self, key: str) -> None:
        with redis_errors_as_unavailable():
            await self._client.delete(self._prefix + key)

    async def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        value, _ttl = await self.incr_with_ttl(key, amount, ttl_s)
        return value

    async def incr_with_ttl(
        self, key: str, amount: int = 1, ttl_s: float | None = None
    ) -> tuple[int, float | None]:
        """``incr``, also returning the seconds the counter has left (None: no TTL)."""
        ttl_arg = "" if ttl_s is None else str(_millis(ttl_s))
        with redis_errors_as_unavailable():
            value, ttl_ms = await self._incr_with_ttl(
                keys=[self._prefix + key], args=[amount, ttl_arg]
            )
        # PTTL -2: a TTL of zero or less removed the counter as soon as it was counted.
        return int(value), (0.0 if int(ttl_ms) == -2 else _seconds(int(ttl_ms)))

    async def expire(self, key: str, ttl_s: float) -> bool:
        # PEXPIRE with 0 deletes the key and answers 1, as MemoryCache does.
        with redis_errors_as_unavailable():
            return bool(await self._client.pexpire(self._prefix + key, _millis(ttl_s)))

    async def ping(self) -> None:
        with redis_errors_as_unavailable():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


@contextmanager
def redis_errors_as_unavailable() -> Iterator[None]:
    """Turn Redis failures into ``CacheUnavailable``, counter misuse into ``ValueError``."""
    try:
        yield
    except ResponseError as exc:
        if any(text in str(exc) for text in _COUNTER_ERRORS):
            raise ValueError(str(exc).split(" script:")[0]) from None
        # Read-only replica, OOM, MASTERDOWN, NOAUTH: our commands are well formed, so any
        # other error reply means this Redis cannot serve us right now.
        raise CacheUnavailable(internal=f"redis answered {type(exc).__name__}") from exc
    except (RedisError, OSError) as exc:
        # The message names only the error type: redis-py's text can include the address.
        raise CacheUnavailable(internal=f"redis failed: {type(exc).__name__}") from exc


def _millis(ttl_s: float) -> int:
    """A TTL in ms, rounded up so a value never expires early; zero or less: expire now."""
    if math.isnan(ttl_s):
        raise ValueError("ttl_s must be a number")
    return max(0, math.ceil(ttl_s * 1000))


def _as_bytes(raw: object) -> bytes | None:
    if raw is None or isinstance(raw, bytes):
        return raw
    raise TypeError("the Redis client must not decode responses")


def _seconds(ttl_ms: int) -> float | None:
    # PTTL: -1 no TTL, -2 no key (already treated as a miss by the caller).
    return None if ttl_ms < 0 else ttl_ms / 1000
