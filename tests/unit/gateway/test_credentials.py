"""The credential resolver against a fake Kong over HTTP: spans, traceparent, single flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.unit.gateway.fake_kong import ADMIN_TOKEN, FakeKong, serving_kong
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.cache.tiered import open_cache
from tokend.core.breaker import BreakerPolicy, CircuitBreaker
from tokend.core.clock import FrozenClock
from tokend.core.crypto import FieldCipher
from tokend.gateway.callers import KongConsumers, Presented
from tokend.gateway.credentials import CredentialResolver, Freshness
from tokend.gateway.metrics import GatewayMetrics
from tokend.gateway.service import GatewayService
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.sources.kong import KongAdminSource
from tokend.gateway.tokens import HmacTokens
from tokend.gateway.tracing import Spans
from tokend.obs.metrics import new_registry


@dataclass
class Rig:
    kong: FakeKong
    resolver: CredentialResolver
    service: GatewayService
    spans: InMemorySpanExporter


@pytest.fixture(scope="module")
def kong_url() -> Iterator[tuple[FakeKong, str]]:
    kong = FakeKong()
    with serving_kong(kong) as url:
        yield kong, url


@pytest.fixture
async def rig(kong_url: tuple[FakeKong, str]) -> AsyncIterator[Rig]:
    kong, url = kong_url
    kong.reset()
    clock = FrozenClock()
    registry = new_registry()
    metrics = GatewayMetrics.register(registry)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    settings = GatewaySettings(
        kong_admin_url=url, kong_admin_token=ADMIN_TOKEN, trusted_proxies=["127.0.0.1/32"]
    )
    cache = open_cache(RedisSettings(), CacheSettings(), registry, clock)
    async with httpx.AsyncClient() as http:
        resolver = CredentialResolver(
            KongAdminSource(http, settings, metrics),
            cache=cache,
            cipher=FieldCipher.from_secrets("unit-test-secret-key-" + "k" * 20),
            breaker=CircuitBreaker("gateway:kong", BreakerPolicy(), clock),
            freshness=Freshness(fresh_ttl_s=300, stale_tolerance_s=1800),
            clock=clock,
            metrics=metrics,
            spans=Spans(tracer),
        )
        service = GatewayService(
            callers=KongConsumers(settings),
            resolver=resolver,
            tokens=HmacTokens(clock, leeway_s=0),
            settings=settings,
            cache=cache,
            clock=clock,
            metrics=metrics,
            spans=Spans(tracer),
        )
        yield Rig(kong, resolver, service, exporter)
    await cache.close()


async def test_concurrent_misses_of_one_consumer_make_one_kong_call(rig: Rig) -> None:
    credential = rig.kong.add_consumer()
    results = await asyncio.gather(
        *(rig.resolver.resolve(credential.consumer_id) for _ in range(20))
    )
    assert {r.credential.key for r in results if r is not None} == {credential.key}
    assert len(rig.kong.calls) == 1


async def test_a_token_request_makes_the_seed_spans_and_propagates_traceparent(rig: Rig) -> None:
    credential = rig.kong.add_consumer()
    presented = Presented(
        consumer_id=credential.consumer_id, username="example-consumer", peer="127.0.0.1"
    )
    issued = await rig.service.issue(presented)
    assert issued.expires_in == 900
    spans = {span.name: span for span in rig.spans.get_finished_spans()}
    assert {"cache.get", "kong.getConsumerSecret", "jwt_create"} <= set(spans)
    lookup = spans["kong.getConsumerSecret"].context
    assert lookup is not None
    (traceparent,) = rig.kong.traceparents
    assert traceparent is not None
    assert traceparent.split("-")[1] == format(lookup.trace_id, "032x")
    assert spans["jwt_create"].attributes == {"jwt.username": "example-consumer"}


async def test_a_credential_of_another_consumer_is_never_used(rig: Rig) -> None:
    credential = rig.kong.add_consumer()
    rig.kong.consumers["victim"] = [credential]  # Kong answers with someone else's credential
    assert await rig.resolver.resolve("victim") is None


async def test_a_secret_that_is_not_text_counts_as_no_credential(rig: Rig) -> None:
    credential = rig.kong.add_consumer()
    credential.secret = "\ud800" + "s" * 40
    assert await rig.resolver.resolve(credential.consumer_id) is None
