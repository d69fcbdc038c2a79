"""Counting the reads a tiered cache sends to Redis: each ``get_many_with_ttl`` call is one round
trip (one MULTI/EXEC), recorded with the keys it asked for."""

from __future__ import annotations

from collections.abc import Sequence

from tokend.cache.redis import RedisCache


def count_round_trips(redis: RedisCache) -> list[list[str]]:
    """The keys of each read ``redis`` makes from now on, one list per round trip."""
    round_trips: list[list[str]] = []
    read = redis.get_many_with_ttl

    async def counted(keys: Sequence[str]) -> list[tuple[bytes | None, float | None]]:
        round_trips.append(list(keys))
        return await read(keys)

    redis.get_many_with_ttl = counted  # type: ignore[method-assign]
    return round_trips
