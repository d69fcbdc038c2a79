"""Rate limits: sliding-window counters, in Redis when configured (shared by every replica,
with the ``limits`` library), in memory otherwise. 429 with ``Retry-After`` when exceeded.

A limiter that cannot reach Redis lets the request through and logs it: an outage of the
counter store must not lock every user out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from tokend.core.errors import RateLimited
from tokend.oidc.settings import RateLimitSettings

if TYPE_CHECKING:  # redis-py is imported only where Redis is configured (tokend.cache.redis)
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = structlog.get_logger("tokend.oidc.rate_limits")


#: One count asked for: the window (its amount and length), the rule's name, the key.
Hit = tuple[RateLimitItem, str, str]


class Counters(Protocol):
    """Sliding-window counters: one count per (item, rule, key)."""

    async def hit(self, item: RateLimitItem, rule: str, key: str) -> bool:
        """Count one and say True, or count nothing and say False when it would be over."""
        ...

    async def hit_in_order(self, hits: Sequence[Hit]) -> int | None:
        """Count each of ``hits`` in turn until one would be over: its index (nothing counted
        for it or after it), or None when all were counted."""
        ...

    async def test(self, item: RateLimitItem, rule: str, key: str) -> bool:
        """Whether one more would pass; counts nothing."""
        ...

    async def reset_at(self, item: RateLimitItem, rule: str, key: str) -> float:
        """When (epoch seconds) one more will pass."""
        ...

    async def reset(self) -> None: ...


#: ``limits``' own ``acquire_sliding_window.lua`` (5.8, the locked version), run for each hit
#: in turn inside one script, stopping at the first that would be over. Written out because
#: ``limits`` runs one script per hit: the token endpoint counts two (per client, per address),
#: and each script call was 5% of a refresh-token grant on PostgreSQL + Redis (py-spy, bench
#: ``oidc_refresh_postgres``), almost all of it redis-py's own work per command. The keys are
#: the ones ``limits`` reads (``SharedCounters.keys``), so its ``test`` and window statistics
#: see these counts; tests/unit/oidc/test_rate_limits.py runs both on the same hits. KEYS: each
#: hit's previous and current window; ARGV: each hit's amount, expiry (seconds) and cost.
#: Returns the 1-based index of the hit refused, or 0.
_ACQUIRE_IN_ORDER: Final = """
for i = 1, #KEYS / 2 do
    local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[3 * i - 2])
    local expiry = tonumber(ARGV[3 * i - 1]) * 1000
    local amount = tonumber(ARGV[3 * i])
    if amount > limit then
        return i
    end
    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = tonumber(redis.call('pttl', previous_key)) or 0
    local current_count = tonumber(redis.call('get', current_key)) or 0
    current_ttl = tonumber(redis.call('pttl', current_key)) or 0
    if previous_ttl <= 0 then
        previous_ttl = 0
    end
    if current_ttl <= 0 then
        current_ttl = 0
    end
    local weighted_count = math.floor(previous_count * previous_ttl / expiry) + current_count
    if (weighted_count + amount) > limit then
        return i
    end
    if redis.call('exists', current_key) == 1 then
        redis.call('incrby', current_key, amount)
    else
        redis.call('set', current_key, amount, 'PX', expiry * 2)
    end
end
return 0
"""


@dataclass(frozen=True, slots=True)
class SharedCounters:
    """The counters in a ``limits`` storage (Redis: every replica counts in one place)."""

    limiter: SlidingWindowCounterRateLimiter
    #: :data:`_ACQUIRE_IN_ORDER` registered on the storage's Redis.
    acquire_in_order: AsyncScript
    #: The storage's key prefix (``limits``: ``<prefix>:<key>``).
    prefix: str

    async def hit(self, item: RateLimitItem, rule: str, key: str) -> bool:
        return await self.hit_in_order(((item, rule, key),)) is None

    async def hit_in_order(self, hits: Sequence[Hit]) -> int | None:
        keys: list[str] = []
        args: list[int] = []
        for item, rule, key in hits:
            keys.extend(self.keys(item, rule, key))
            args.extend((item.amount, item.get_expiry(), 1))
        refused = int(await self.acquire_in_order(keys, args))
        return refused - 1 if refused else None

    def keys(self, item: RateLimitItem, rule: str, key: str) -> tuple[str, str]:
        """The previous and the current window's keys, as ``limits``' Redis storage names them
        (``_previous_window_key``, ``_current_window_key``, the bridge's ``prefixed_key``)."""
        current = f"{self.prefix}:{{{item.key_for(rule, key)}}}"
        return f"{current}/-1", current

    async def test(self, item: RateLimitItem, rule: str, key: str) -> bool:
        return await self.limiter.test(item, rule, key)

    async def reset_at(self, item: RateLimitItem, rule: str, key: str) -> float:
        return (await self.limiter.get_window_stats(item, rule, key)).reset_time

    async def reset(self) -> None:
        await self.limiter.storage.reset()


class _Window:
    __slots__ = ("current", "index", "previous")

    def __init__(self, index: int) -> None:
        self.index = index
        self.current = 0
        self.previous = 0


@dataclass(slots=True)
class MemoryCounters:
    """The counters of one process: the sliding-window counter of ``limits``
    (``SlidingWindowCounterRateLimiter``), computed in place.

    Hand-written because ``limits``' memory storage costs a token request two of its most
    expensive steps (py-spy of ``oidc_client_credentials``: 6-9% of a request for the two
    counts, through its async storage wrappers, string keys per window and expiry
    bookkeeping), where the arithmetic is a few dictionary lookups. The algorithm and its
    answers are the library's (``tests/unit/oidc/test_rate_limits.py`` runs both on the same
    hits): a window of ``expiry`` seconds aligned on the epoch; the count is the current
    window's plus the previous window's weighted by how much of it still overlaps the last
    ``expiry`` seconds; a hit passes while that count, floored, stays within the amount.
    Keys of windows over are dropped when their rule next enters a new window, so memory
    holds at most two windows' keys.
    """

    clock: Callable[[], float] = time.time
    #: (rule, amount, expiry) -> key -> its window
    _windows: dict[tuple[str, int, int], dict[str, _Window]] = field(default_factory=dict)
    #: (rule, amount, expiry) -> the index of the newest window seen (for dropping old keys)
    _newest: dict[tuple[str, int, int], int] = field(default_factory=dict)

    async def hit(self, item: RateLimitItem, rule: str, key: str) -> bool:
        now = self.clock()
        window, expiry = self._window(item, rule, key, now, keep=True)
        if math.floor(_weighted(window, expiry, now)) + 1 > item.amount:
            return False
        window.current += 1
        return True

    async def hit_in_order(self, hits: Sequence[Hit]) -> int | None:
        for index, (item, rule, key) in enumerate(hits):
            if not await self.hit(item, rule, key):
                return index
        return None

    async def test(self, item: RateLimitItem, rule: str, key: str) -> bool:
        now = self.clock()
        window, expiry = self._window(item, rule, key, now, keep=False)
        return _weighted(window, expiry, now) < item.amount

    async def reset_at(self, item: RateLimitItem, rule: str, key: str) -> float:
        now = self.clock()
        window, expiry = self._window(item, rule, key, now, keep=False)
        if not (window.previous or window.current):
            return now
        # As limits' get_window_stats: the soonest of the previous window's next weighted
        # unit leaving and the current window ending.
        left = 1 - ((now / expiry) % 1)
        previous_in = current_in = math.inf
        if window.previous:
            previous_in = (left * expiry) % (expiry / window.previous)
        if window.current:
            current_in = (left * expiry + expiry) % expiry
        return now + min(previous_in, current_in)

    async def reset(self) -> None:
        self._windows.clear()
        self._newest.clear()

    def _window(
        self, item: RateLimitItem, rule: str, key: str, now: float, *, keep: bool
    ) -> tuple[_Window, int]:
        """``key``'s window of ``item`` at ``now``; a key without one gets an empty window,
        kept only when ``keep`` (a hit): checking a key never seen stores nothing."""
        expiry = item.get_expiry()
        index = int(now // expiry)
        name = (rule, item.amount, expiry)
        keys = self._windows.get(name)
        if keys is None:
            keys = self._windows[name] = {}
        if self._newest.get(name) != index:
            self._newest[name] = index
            for stale in [k for k, w in keys.items() if w.index < index - 1]:
                del keys[stale]
        window = keys.get(key)
        if window is None:
            window = _Window(index)
            if keep:
                keys[key] = window
        elif window.index != index:
            # The window moved on: the current count becomes the previous one, or nothing
            # is left of either when more than a window passed.
            window.previous = window.current if window.index == index - 1 else 0
            window.current = 0
            window.index = index
        return window, expiry


def _weighted(window: _Window, expiry: int, now: float) -> float:
    # limits: previous * previous_ttl / expiry + current, previous_ttl / expiry being the
    # part of the previous window still inside the last ``expiry`` seconds.
    if not window.previous:
        return float(window.current)
    return window.previous * (1 - ((now / expiry) % 1)) + window.current


class RateLimits:
    def __init__(self, settings: RateLimitSettings, counters: Counters) -> None:
        self._enabled = settings.enabled
        self._counters = counters
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
            return cls(settings, MemoryCounters())
        prefix = f"{key_prefix}limits"
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=prefix,
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed on to redis-py
        )
        limiter = SlidingWindowCounterRateLimiter(storage)
        script = redis.register_script(_ACQUIRE_IN_ORDER)
        return cls(settings, SharedCounters(limiter, script, prefix))

    async def hit(self, rule: str, key: str) -> None:
        """Count one attempt against ``rule`` for ``key``; raise RateLimited when over."""
        await self._hit_in_order(((rule, key),))

    async def _hit_in_order(self, wanted: Sequence[tuple[str, str]]) -> None:
        """Count one attempt against each ``(rule, key)`` in turn (every window of a stacked
        rule), in one call to the counters; raise RateLimited at the first that is over,
        having counted nothing for it or after it."""
        hits = [(item, rule, key) for rule, key in wanted for item in self._items(rule)]
        if not hits:
            return
        try:
            refused = await self._counters.hit_in_order(hits)
        except Exception as exc:  # the counter store is down: fail open, say so
            for rule in dict.fromkeys(rule for _, rule, _ in hits):
                _unavailable(rule, exc)
            return
        if refused is not None:
            item, rule, key = hits[refused]
            raise await self._refusal(rule, item, key)

    async def check(self, rule: str, key: str) -> None:
        """Raise RateLimited when ``key`` has used up ``rule``; counts nothing (``count`` does)."""
        for item in self._items(rule):
            try:
                if await self._counters.test(item, rule, key):
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
                await self._counters.hit(item, rule, key)
            except Exception as exc:
                _unavailable(rule, exc)
                return

    async def hit_token(self, client_id: str, ip: str) -> None:
        await self._hit_in_order((("token_per_client", client_id), ("token_per_ip", ip)))

    async def reset(self) -> None:
        await self._counters.reset()

    def _items(self, rule: str) -> tuple[RateLimitItem, ...]:
        items = self._rules[rule]
        return items if self._enabled else ()

    async def _refusal(self, rule: str, item: RateLimitItem, key: str) -> RateLimited:
        try:
            reset_at = await self._counters.reset_at(item, rule, key)
            retry_after = max(1, math.ceil(reset_at - time.time()))
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
