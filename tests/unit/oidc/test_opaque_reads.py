"""Reading an opaque access token (``AccessTokenReader``, what introspection asks): the record is
cached, the TokenInfo decoded from a cached record is reused while the record is the same, and
a revoked, changed or foreign entry is read afresh."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from tests.unit.core.memory_revocations import MemoryRevocations
from tests.unit.oidc.memory_stores import MemoryDatabase, MemoryOpaqueTokens
from tokend.cache.memory import MemoryCache
from tokend.cache.tiered import TieredCache
from tokend.core.clock import FrozenClock
from tokend.core.crypto import SecretHasher
from tokend.core.revocations import Revocations
from tokend.oidc.tokens import AccessGrant, AccessTokenReader, OpaqueAccessTokens

SECRET = "opaque-reads-test-secret-0123456789abcdef"


def reader_and_issuer(clock: FrozenClock) -> tuple[AccessTokenReader, OpaqueAccessTokens]:
    cache = TieredCache(
        MemoryCache(1000, clock), None, registry=CollectorRegistry(), clock=clock,
        memory_ttl_s=5.0, retry_interval_s=1.0,
    )  # fmt: skip
    store = MemoryOpaqueTokens(MemoryDatabase())
    hasher = SecretHasher.from_secrets(SECRET)
    reader = AccessTokenReader(
        keys=None,  # type: ignore[arg-type]  # opaque tokens only: no JWT is read here
        algorithms=frozenset({"ES256"}),
        issuer="https://tokend.test",
        leeway_s=0,
        opaque=store,
        hasher=hasher,
        cache=cache,
        revocations=Revocations(MemoryRevocations(), cache, clock, checked_ttl_s=5.0),
        clock=clock,
        cache_ttl_s=30,
    )
    return reader, OpaqueAccessTokens(store, hasher, clock)


GRANT = AccessGrant(
    client_id="client-1",
    subject="client-1",
    user_id=None,
    scopes=frozenset({"api:read"}),
    audience=("https://api.test",),
    ttl_s=600,
    grant_id="grant-1",
)


async def test_a_cached_record_is_decoded_once_and_a_revoked_token_reads_as_inactive() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    reader, issuer = reader_and_issuer(clock)
    token = await issuer.issue(GRANT)
    loaded = await reader.read(token.value)  # from the store, then cached
    first = await reader.read(token.value)  # decoded from the cached record
    assert loaded == first
    assert first is not None
    assert (first.client_id, first.scopes, first.jti) == ("client-1", GRANT.scopes, token.jti)
    assert await reader.read(token.value) is first  # the same record: not decoded again
    assert await reader.read(token.value + "x") is None

    assert await reader.revoke_opaque(token.value) == first
    assert await reader.read(token.value) is None  # the record was dropped and read afresh
    assert await reader.read(token.value) is None  # the cached "not active"


async def test_a_cached_entry_that_is_not_a_record_is_replaced_from_the_store() -> None:
    clock = FrozenClock(datetime(2026, 12, 7, tzinfo=UTC))
    reader, issuer = reader_and_issuer(clock)
    token = await issuer.issue(GRANT)
    key = f"oidc:opaque:{SecretHasher.from_secrets(SECRET).hash(token.value)}"
    for foreign in (b"[1, 2]", b"not json"):
        await reader.cache.set(key, foreign, 60)
        info = await reader.read(token.value)
        assert info is not None
        assert info.jti == token.jti
        again = await reader.read(token.value)  # the store's record, cached again
        assert again == info
        assert await reader.read(token.value) is again
