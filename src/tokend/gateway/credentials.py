"""Consumer credentials through the tiered cache, the source's breaker and a stale fallback.

Seed 004's failure table, row by row:

    source up,   cache fresh          → cached (the source is not asked)
    source up,   cache stale/missing  → asked, cache refreshed
    source down, cache fresh          → cached
    source down, stale ≤ tolerance    → stale secret used, "degraded" in logs and metrics
    source down, stale > tolerance    → 503 (the entry is gone: its cache TTL is the tolerance)
    source down, nothing cached       → 503

The 503 is AUTH_005 once the breaker is open, AUTH_004 for a failed call while it is still
closed. "No credential" from a source that answered is a 401 AUTH_002 and not a breaker
failure. Concurrent misses of one consumer share one source call (single flight).

Entries hold the secret AES-GCM encrypted (bound to the cache key), so Redis never stores a
consumer secret in clear; ``fetched_at`` is wall-clock time because replicas share Redis.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

import structlog

from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.core.breaker import BreakerOpen, BreakerState, CircuitBreaker
from tokend.core.clock import Clock
from tokend.core.crypto import DecryptionFailed, FieldCipher
from tokend.gateway.errors import CircuitOpen, KongUnavailable
from tokend.gateway.metrics import GatewayMetrics
from tokend.gateway.records import Credential
from tokend.gateway.sources import ConsumerSource, SourceUnavailable
from tokend.gateway.tracing import Spans

log = structlog.get_logger("tokend.gateway")

#: Seed 004's AUTH_004 ``Retry-After``.
KONG_RETRY_AFTER_S = 30


@dataclass(frozen=True, slots=True)
class Freshness:
    fresh_ttl_s: float
    stale_tolerance_s: float
    #: Last-good credentials this process keeps for the stale fallback (seed: 1000 in memory).
    max_last_good: int = 1000


@dataclass(frozen=True, slots=True)
class Resolved:
    credential: Credential
    #: True when the source was down and a stale secret (within tolerance) stood in.
    is_degraded: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    credential: Credential
    fetched_at: float


def credential_cache_key(source_name: str, lookup: str) -> str:
    """Where a source's credential for ``lookup`` is cached (shared by every replica)."""
    return f"gateway:cred:{source_name.removeprefix('gateway:')}:{lookup}"


class CredentialResolver:
    def __init__(
        self,
        source: ConsumerSource,
        *,
        cache: TieredCache,
        cipher: FieldCipher,
        breaker: CircuitBreaker,
        freshness: Freshness,
        clock: Clock,
        metrics: GatewayMetrics,
        spans: Spans,
    ) -> None:
        self._source = source
        self._cache = cache
        self._cipher = cipher
        self._breaker = breaker
        self._freshness = freshness
        self._clock = clock
        self._spans = spans
        self._hits = metrics.cache.labels("hit")
        self._misses = metrics.cache.labels("miss")
        self._stale = metrics.cache.labels("stale")
        self._degraded = metrics.degraded.labels(source.name)
        self._flights = SingleFlight()
        # Cache key → (cached bytes, decoded entry). The tiered cache's memory tier keeps
        # Redis values only seconds, so a Redis outage during a Kong outage would lose every
        # secret: this bounded copy is the seed's "in-memory stale" tier when the source cannot
        # answer. It also spares a hit the JSON parse and AES-GCM decryption of bytes already
        # decoded here.
        self._last_good: OrderedDict[str, tuple[bytes, _Entry]] = OrderedDict()
        #: Keys served degraded since their last refresh: logged once, not once per request.
        self._degraded_keys: set[str] = set()

    def cache_key(self, lookup: str) -> str:
        return credential_cache_key(self._source.name, lookup)

    async def resolve(self, lookup: str) -> Resolved | None:
        """The credential for ``lookup``; None when the source says there is none."""
        key = self.cache_key(lookup)
        with self._spans("cache.get"):
            entry = await self._read(key, lookup)
        if entry is not None and self._age(entry) < self._freshness.fresh_ttl_s:
            self._hits.inc()
            return Resolved(entry.credential)
        (self._misses if entry is None else self._stale).inc()
        resolved = await self._flights.run(key, lambda: self._refresh(key, lookup, entry))
        if resolved is not None and resolved.is_degraded:
            # Per request, not per shared flight: this many tokens were signed degraded.
            self._degraded.inc()
        return resolved

    async def forget(self, lookup: str) -> None:
        key = self.cache_key(lookup)
        self._last_good.pop(key, None)
        await self._cache.delete(key)

    async def _refresh(self, key: str, lookup: str, entry: _Entry | None) -> Resolved | None:
        try:
            async with self._breaker.call():
                with self._spans(self._source.span_name, {"gateway.source": self._source.name}):
                    credential = await self._source.fetch(lookup)
        except BreakerOpen:
            return self._stale_or_raise(key, entry or self._last_good_entry(key), "circuit open")
        except SourceUnavailable as exc:
            return self._stale_or_raise(key, entry or self._last_good_entry(key), str(exc))
        self._degraded_keys.discard(key)
        if credential is None:
            self._last_good.pop(key, None)
            await self._cache.delete(key)
            return None
        await self._write(key, credential)
        return Resolved(credential)

    def _stale_or_raise(self, key: str, entry: _Entry | None, reason: str) -> Resolved:
        if entry is not None and self._age(entry) <= self._freshness.stale_tolerance_s:
            if key not in self._degraded_keys:
                self._degraded_keys.add(key)
                log.warning(
                    "gateway.degraded",
                    source=self._source.name,
                    reason=reason,
                    consumer_id=entry.credential.consumer_id,
                    secret_age_s=round(self._age(entry), 1),
                )
            return Resolved(entry.credential, is_degraded=True)
        log.warning("gateway.source_unavailable", source=self._source.name, reason=reason)
        if self._breaker.state is BreakerState.OPEN:
            retry_after = str(self._breaker.retry_after_s())
            raise CircuitOpen(
                internal=reason,
                headers={"Retry-After": retry_after},
                details={"reason": "Consumer source unavailable and no usable cached secret"},
            )
        raise KongUnavailable(
            internal=reason,
            headers={"Retry-After": str(KONG_RETRY_AFTER_S)},
            details={
                "reason": "Kong gateway connectivity issues",
                "retryAfter": KONG_RETRY_AFTER_S,
            },
        )

    def _last_good_entry(self, key: str) -> _Entry | None:
        kept = self._last_good.get(key)
        return None if kept is None else kept[1]

    def _keep(self, key: str, raw: bytes, entry: _Entry) -> None:
        self._last_good[key] = (raw, entry)
        self._last_good.move_to_end(key)
        if len(self._last_good) > self._freshness.max_last_good:
            self._last_good.popitem(last=False)

    def _age(self, entry: _Entry) -> float:
        return self._clock.now().timestamp() - entry.fetched_at

    async def _read(self, key: str, lookup: str) -> _Entry | None:
        raw = await self._cache.get(key)
        if raw is None:
            return None
        kept = self._last_good.get(key)
        if kept is not None and kept[0] == raw:
            return kept[1]
        try:
            data = json.loads(raw)
            credential = Credential(
                consumer_id=data["c"],
                key=data["k"],
                secret=self._cipher.decrypt_text(data["s"], aad=key),
                username=data.get("u"),
            )
            entry = _Entry(credential, float(data["t"]))
        except (ValueError, KeyError, TypeError, DecryptionFailed):
            return None  # written by an older version or under a retired secret key: a miss
        # Seed 004's cache-pollution guard: an entry for another consumer is never used.
        if credential.username is None and credential.consumer_id != lookup:
            return None
        self._keep(key, raw, entry)
        return entry

    async def _write(self, key: str, credential: Credential) -> None:
        fetched_at = self._clock.now().timestamp()
        data = {
            "c": credential.consumer_id,
            "k": credential.key,
            "s": self._cipher.encrypt_text(credential.secret, aad=key),
            "u": credential.username,
            "t": fetched_at,
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        self._keep(key, raw, _Entry(credential, fetched_at))
        ttl_s = max(self._freshness.fresh_ttl_s, self._freshness.stale_tolerance_s)
        await self._cache.set(key, raw, ttl_s)
