"""Wiring of the gateway: caller check, consumer source, cache, breaker, tokens, routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, timedelta

import structlog
from opentelemetry import trace

from tokend.core.breaker import BreakerPolicy, CircuitBreaker, breaker_gauge
from tokend.gateway.admin import admin_router
from tokend.gateway.callers import ApiKeys, Callers, KongConsumers
from tokend.gateway.consumers import Consumers
from tokend.gateway.credentials import CredentialResolver, Freshness
from tokend.gateway.demo import DEMO_CONSUMER, demo_banner
from tokend.gateway.metrics import GatewayMetrics
from tokend.gateway.routes import token_router
from tokend.gateway.service import GatewayService
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.sources import ConsumerSource
from tokend.gateway.sources.kong import KongAdminSource
from tokend.gateway.sources.local import LocalSource
from tokend.gateway.sql import SqlConsumers
from tokend.gateway.tokens import GatewayTokens, HmacTokens, KeyringTokens
from tokend.gateway.tracing import Spans
from tokend.runtime import Capability, Late, Operations, Resources, Runtime
from tokend.site import Site

log = structlog.get_logger("tokend.gateway")


_DEFAULT_KONG = GatewaySettings().kong_admin_url


def effective_settings(config: GatewaySettings, site: Site) -> GatewaySettings:
    """The gateway block; the demo runs standalone with its demo consumer unless a Kong Admin
    API is configured."""
    # Not ``model_fields_set``: the CLI's flags re-validate a dump, which sets every field.
    if site.demo and config.source == "kong" and config.kong_admin_url == _DEFAULT_KONG:
        config = config.model_copy(
            update={"source": "local", "consumers": [*config.consumers, DEMO_CONSUMER]}
        )
    return config


def build(settings: GatewaySettings, runtime: Runtime) -> Capability:
    site = runtime.site
    config = effective_settings(settings, site)
    if config.source == "kong":
        warn_about_proxy_trust(config, site)
    metrics = GatewayMetrics.register(runtime.metrics)
    spans = Spans(trace.get_tracer("tokend.gateway") if site.tracing else None)
    gauge = breaker_gauge(runtime.metrics)
    policy = BreakerPolicy(
        failure_ratio=config.breaker_failure_ratio,
        min_calls=config.breaker_min_calls,
        reset_after_s=config.breaker_reset_after_s,
    )
    source_name = "gateway:kong" if config.source == "kong" else "gateway:local"
    breaker = CircuitBreaker(source_name, policy, runtime.clock, gauge)
    service: Late[GatewayService] = Late("the gateway")
    consumers: Late[Consumers] = Late("the gateway")

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        cipher, hasher = resources.cipher, resources.hasher
        store = SqlConsumers(resources.database, cipher, resources.clock)
        source: ConsumerSource
        callers: Callers
        if config.source == "kong":
            source, callers = (
                KongAdminSource(resources.http, config, metrics),
                KongConsumers(config),
            )
        else:
            source, callers = LocalSource(store, metrics), ApiKeys(config, hasher)
        resolver = CredentialResolver(
            source,
            cache=resources.cache,
            cipher=cipher,
            breaker=breaker,
            freshness=Freshness(
                fresh_ttl_s=config.cache_ttl_s
                if config.source == "kong"
                else config.local_cache_ttl_s,
                stale_tolerance_s=config.stale_tolerance(has_redis=site.has_redis),
            ),
            clock=resources.clock,
            metrics=metrics,
            spans=spans,
        )
        if config.source == "local":
            local = Consumers(store, hasher, resolver.forget)
            consumers.set(local)
            for username in await local.declare(config.consumers):
                log.info("gateway.consumer_declared", username=username)
        tokens: GatewayTokens
        if config.token_alg == "ES256":  # noqa: S105  (an algorithm)
            keyring = resources.keyring
            tokens = KeyringTokens(
                keyring.signing_key, keyring, resources.clock, site.keys.leeway_s
            )
        else:
            tokens = HmacTokens(resources.clock, site.keys.leeway_s)
        service.set(
            GatewayService(
                callers=callers,
                resolver=resolver,
                tokens=tokens,
                settings=config,
                cache=resources.cache,
                clock=resources.clock,
                metrics=metrics,
                spans=spans,
            )
        )
        try:
            yield
        finally:
            service.set(None)
            consumers.set(None)

    def health() -> Mapping[str, object]:
        last = breaker.last_success_at
        last_success = None
        if last is not None:
            ago = timedelta(seconds=runtime.clock.monotonic() - last)
            last_success = (runtime.clock.now() - ago).astimezone(UTC).isoformat()
        return {
            "gateway": {
                "source": config.source,
                "circuitBreakerState": breaker.state.name.lower().replace("_", "-"),
                "lastSuccess": last_success,
            }
        }

    # The token routes are the router itself (hot path: one routing level less).
    router = token_router(service.get, runtime.clock, config)
    if config.source == "local":
        router.include_router(admin_router(consumers.get, runtime.admin_policy(config.admin_token)))
    banner: tuple[str, ...] = ()
    if config.source == "local" and DEMO_CONSUMER in config.consumers:
        banner = demo_banner(runtime.base_url)
    return Capability(
        name="gateway",
        router=router,
        lifespan=lifespan,
        banner=banner,
        health=health if reports_health(settings, runtime) else None,
        operations=Operations((Consumers, consumers.get))
        if config.source == "local"
        else Operations(),
    )


def warn_about_proxy_trust(config: GatewaySettings, site: Site) -> None:
    """Say at start-up when Kong's consumer headers cannot be believed, or are believed on the
    strength of an address alone."""
    if config.proxy_secret is None and not config.trusted_proxies:
        log.warning(
            "gateway.kong_untrusted",
            reason="no proxy secret or proxy networks: every consumer header is refused",
            fix="set TOKEND_GATEWAY__PROXY_SECRET (sent by Kong) and TRUSTED_PROXIES",
        )
    elif config.proxy_secret is None and site.is_production:
        log.warning(
            "gateway.address_only_trust",
            reason="consumer headers are believed from any host in the proxy networks",
            fix="set TOKEND_GATEWAY__PROXY_SECRET and have Kong send it",
        )


def reports_health(settings: GatewaySettings, runtime: Runtime) -> bool:
    """Whether ``/health`` shows the gateway's source: served alone (seed 004's ``/health``),
    in the demo, or once the gateway is configured; an all-in-one server that was told nothing
    about the gateway keeps the bare liveness body."""
    return runtime.alone or runtime.site.demo or settings != GatewaySettings()
