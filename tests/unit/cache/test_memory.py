"""The memory tier on its own: TTLs on the injected clock, the LRU bound, Redis-like counters."""

from __future__ import annotations

import pytest

from tokend.cache.memory import MemoryCache
from tokend.core.clock import FrozenClock


@pytest.fixture
def memory(clock: FrozenClock) -> MemoryCache:
    return MemoryCache(max_items=3, clock=clock)


async def test_a_value_expires_when_its_ttl_has_passed(
    memory: MemoryCache, clock: FrozenClock
) -> None:
    await memory.set("k", b"v", ttl_s=10)
    clock.advance(9.9)
    assert await memory.get("k") == b"v"
    clock.advance(0.1)
    assert await memory.get("k") is None


async def test_a_value_without_ttl_never_expires(memory: MemoryCache, clock: FrozenClock) -> None:
    await memory.set("k", b"v")
    clock.advance(10 * 365 * 24 * 3600)
    assert await memory.get("k") == b"v"


async def test_the_least_recently_used_entry_is_evicted_at_the_bound(memory: MemoryCache) -> None:
    for key in ("a", "b", "c"):
        await memory.set(key, key.encode())
    await memory.get("a")  # "b" is now the least recently used
    await memory.set("d", b"d")
    assert len(memory) == 3
    assert await memory.get("b") is None
    assert [await memory.get(key) for key in ("a", "c", "d")] == [b"a", b"c", b"d"]


async def test_overwriting_a_key_does_not_evict_another(memory: MemoryCache) -> None:
    for key in ("a", "b", "c"):
        await memory.set(key, b"1")
    await memory.set("a", b"2")
    assert [await memory.get(key) for key in ("a", "b", "c")] == [b"2", b"1", b"1"]


async def test_incr_creates_a_missing_key_with_the_ttl(
    memory: MemoryCache, clock: FrozenClock
) -> None:
    assert await memory.incr("n", ttl_s=10) == 1
    assert await memory.incr("n", 4) == 5
    assert await memory.get("n") == b"5"
    clock.advance(10)
    assert await memory.get("n") is None


async def test_incr_keeps_the_ttl_of_an_existing_key(
    memory: MemoryCache, clock: FrozenClock
) -> None:
    await memory.incr("n", ttl_s=10)
    clock.advance(6)
    await memory.incr("n", ttl_s=10)
    assert memory.remaining_ttl_s("n") == pytest.approx(4)
    clock.advance(4)
    assert await memory.get("n") is None


async def test_incr_counts_a_value_written_as_decimal_text(memory: MemoryCache) -> None:
    await memory.set("n", b"-7")
    assert await memory.incr("n", 2) == -5


@pytest.mark.parametrize("value", [b"abc", b"01", b" 1", b"+1", b"1.5", b"9223372036854775808"])
async def test_incr_refuses_what_redis_would_not_count(memory: MemoryCache, value: bytes) -> None:
    await memory.set("n", value)
    with pytest.raises(ValueError, match="not an integer"):
        await memory.incr("n")
    assert await memory.get("n") == value


async def test_incr_refuses_to_overflow_64_bits(memory: MemoryCache) -> None:
    await memory.set("n", str(2**63 - 1).encode())
    with pytest.raises(ValueError, match="overflow"):
        await memory.incr("n")


async def test_expire_sets_a_new_ttl_on_an_existing_key_only(
    memory: MemoryCache, clock: FrozenClock
) -> None:
    assert await memory.expire("missing", 5) is False
    await memory.set("k", b"v")
    assert await memory.expire("k", 5) is True
    clock.advance(5)
    assert await memory.get("k") is None
    assert await memory.expire("k", 5) is False


async def test_a_ttl_of_zero_or_less_removes_the_key(memory: MemoryCache) -> None:
    await memory.set("a", b"v", ttl_s=0)
    await memory.set("b", b"v")
    assert await memory.expire("b", -1) is True
    assert await memory.get("a") is None
    assert await memory.get("b") is None
    assert len(memory) == 0


async def test_shortening_ttls_caps_only_the_longer_ones(
    memory: MemoryCache, clock: FrozenClock
) -> None:
    await memory.set("forever", b"v")
    await memory.set("long", b"v", ttl_s=3600)
    await memory.set("short", b"v", ttl_s=2)
    memory.shorten_ttls(5)
    assert memory.remaining_ttl_s("forever") == pytest.approx(5)
    assert memory.remaining_ttl_s("long") == pytest.approx(5)
    assert memory.remaining_ttl_s("short") == pytest.approx(2)


def test_a_memory_cache_holds_at_least_one_item(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryCache(max_items=0, clock=clock)
