"""Server-side sessions in the spine's cache: opaque ids, encrypted values, one-time logins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from tests.secrets_seen import SecretsSeen
from tokend.cache.memory import MemoryCache
from tokend.cache.redis import RedisCache
from tokend.cache.settings import RedisSettings
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock
from tokend.guard.envelope import human_duration
from tokend.guard.sessions import LoginState, SessionData, SessionStore

SECRET = "session-secret-" + "Qw3rTy" * 6


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[TieredCache]:
    """The spine's cache as tokend runs it: memory alone, or Redis behind memory."""
    clock = FrozenClock(datetime.now(UTC))
    redis, prefix = None, ""
    if request.param == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        url = request.getfixturevalue("redis_url")
        redis = RedisCache.open(RedisSettings(url=url, key_prefix=prefix))
    tiered = TieredCache(
        MemoryCache(100, clock),
        redis,
        registry=CollectorRegistry(),
        clock=clock,
        memory_ttl_s=60,
        retry_interval_s=1,
    )
    yield tiered
    client = tiered.redis_client
    if client is not None:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    await tiered.close()


def data() -> SessionData:
    return SessionData(
        issuer="https://kc.test/realms/demo",
        claims={"sub": "u1", "realm_access": {"roles": ["admin"]}},
        access_token="at-secret-value",
        refresh_token="rt-secret-value",
        expires_at=1.0,
    )


async def test_session_round_trip_and_principal(
    cache: TieredCache, secrets_seen: SecretsSeen
) -> None:
    store = SessionStore(lambda: cache, secrets_seen.add(SECRET), ttl_s=600)
    session_id = secrets_seen.add(await store.create(data()))
    assert await store.get(session_id) == data()
    principal = await store.principal(session_id)
    assert principal is not None
    assert (principal.subject, principal.roles, principal.via) == (
        "u1",
        frozenset({"admin"}),
        "session",
    )
    await store.delete(session_id)
    assert await store.get(session_id) is None


async def test_the_cache_holds_neither_the_id_nor_the_tokens(cache: TieredCache) -> None:
    store = SessionStore(lambda: cache, SECRET, ttl_s=600)
    session_id = await store.create(data())
    # What a dump of the cache would show: its Redis keys and values, or the memory tier.
    # Only this cache's prefix: other workers' tests share the database and keep keys of
    # other types (a GET on a hash answers WRONGTYPE).
    client = cache.redis_client
    if client is not None and cache._redis is not None:
        keys = [key async for key in client.scan_iter(match=f"{cache._redis.key_prefix}*")]
        dump = repr([(key, await client.get(key)) for key in keys])
    else:
        dump = repr(cache._memory._entries)
    assert "guard:session:" in dump
    for secret in (session_id, "at-secret-value", "rt-secret-value"):
        assert secret not in dump
    assert "at-secret-value" not in repr(data())


async def test_another_secret_cannot_read_the_sessions(cache: TieredCache) -> None:
    session_id = await SessionStore(lambda: cache, SECRET, ttl_s=600).create(data())
    assert await SessionStore(lambda: cache, SECRET + "x", ttl_s=600).get(session_id) is None


async def test_a_login_state_is_used_once(cache: TieredCache) -> None:
    store = SessionStore(lambda: cache, SECRET, ttl_s=600)
    login = LoginState(state="s", nonce="n", code_verifier="v" * 43, return_to="/x")
    login_id = await store.begin_login(login)
    assert await store.finish_login(login_id) == login
    assert await store.finish_login(login_id) is None
    assert await store.finish_login("made-up") is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(600, "10 minutes"), (60, "1 minute"), (90, "90 seconds"), (1, "1 second"), (0, "0 seconds")],
)
def test_human_durations_follow_the_seed(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
