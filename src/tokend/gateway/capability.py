"""Wiring of the gateway: caller check, consumer source, cache, breaker, tokens, routes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, timedelta

import anyio
import structlog
from opentelemetry import trace

from tokend import __version__
from tokend.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker, breaker_gauge
from tokend.core.routing import merge
from tokend.gateway.admin import admin_router
from tokend.gateway.callers import ApiKeys, Callers, KongConsumers
from tokend.gateway.consumers import Consumers
from tokend.gateway.credentials import CredentialResolver, Freshness
from tokend.gateway.demo import DEMO_CONSUMER, demo_banner
from tokend.gateway.metrics import GatewayMetrics
from tokend.gateway.routes import token_router
from tokend.gateway.seed_http import cors_of
from tokend.gateway.service import GatewayService
from tokend.gateway.settings import GatewaySettings
from tokend.gateway.source_status import SourceHealth, SourceTracker, safe_url
from tokend.gateway.sources import ConsumerSource, SourceUnavailable
from tokend.gateway.sources.kong import KongAdminSource
from tokend.gateway.sources.local import LocalSource
from tokend.gateway.sql import SqlConsumers
from tokend.gateway.tokens import GatewayTokens, HmacTokens, KeyringTokens
from tokend.gateway.tracing import Spans
from tokend.runtime import Capability, Late, Operations, Resources, Runtime
from tokend.site import Site

log = structlog.get_logger("tokend.gateway")


_DEFAULT_KONG = GatewaySettings().kong_admin_url
#: How long ``/health`` reuses its last look at Kong (or the database).
HEALTH_CHECK_REUSE_S = 1.0


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
    kong: Late[KongAdminSource] = Late("the gateway")
    tracker = SourceTracker(runtime.clock)

    async def check_kong() -> None:
        await kong.get().ping(config.health_timeout_s)

    # The console's gateway page: which source, where, how it answers; Kong can be asked now.
    source_health = SourceHealth(
        config.source,
        config.kong_mode if config.source == "kong" else None,
        safe_url(config.kong_admin_url) if config.source == "kong" else None,
        tracker,
        breaker,
        check_kong if config.source == "kong" else None,
    )

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        cipher, hasher = resources.cipher, resources.hasher
        store = SqlConsumers(resources.database, cipher, resources.clock)
        source: ConsumerSource
        callers: Callers
        if config.source == "kong":
            admin_api = KongAdminSource(resources.http, config, metrics, tracker)
            kong.set(admin_api)
            source, callers = admin_api, KongConsumers(config)
        else:
            source, callers = LocalSource(store, metrics, tracker), ApiKeys(config, hasher)
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
            kong.set(None)

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

    stale_s = config.stale_tolerance(has_redis=site.has_redis)

    async def seed_health() -> tuple[int, Mapping[str, object]]:
        """Seed 004 ``/health``: ``healthy``; ``degraded`` (200) while Kong is down or its
        breaker open but cached secrets may still answer (stale tolerance); ``unhealthy``
        (503) when neither can answer."""
        dependencies: dict[str, object] = {}
        source_up = True
        if config.source == "kong":
            source_up, dependencies["kong"] = await kong_state()
        else:
            source_up, dependencies["database"] = await database_state()
        resources = runtime.resources
        cache_state = await resources.cache.health()
        dependencies["cache"] = {
            "status": "healthy" if cache_state in ("ok", "memory") else "degraded",
            "type": "redis" if site.has_redis else "memory",
            "staleToleranceSeconds": stale_s,
        }
        if source_up:
            status, code = "healthy", 200
        elif stale_s > 0:
            status, code = "degraded", 200
        else:
            status, code = "unhealthy", 503
        body = {
            "status": status,
            "timestamp": runtime.clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "version": __version__,
            **health(),
            "dependencies": dependencies,
        }
        return code, body

    pinged: list[tuple[float, tuple[bool, dict[str, object]]]] = []

    async def database_state() -> tuple[bool, dict[str, object]]:
        """Standalone consumers live in the database: it is the source (asked at most once
        per ``HEALTH_CHECK_REUSE_S``)."""
        now = runtime.clock.monotonic()
        if pinged and now - pinged[0][0] < HEALTH_CHECK_REUSE_S:
            return pinged[0][1]
        answer = await ping_database()
        pinged[:] = [(now, answer)]
        return answer

    async def ping_database() -> tuple[bool, dict[str, object]]:
        try:
            with anyio.fail_after(config.health_timeout_s):
                await runtime.resources.database.ping()
        except Exception as exc:  # any failure means "down"; the reason is shown
            return False, {"status": "unhealthy", "details": type(exc).__name__}
        return True, {"status": "healthy"}

    checked: list[tuple[float, BreakerState, tuple[bool, dict[str, object]]]] = []

    async def kong_state() -> tuple[bool, dict[str, object]]:
        """Kong's state, asked at most once per ``HEALTH_CHECK_REUSE_S`` while the breaker
        stays in the same state: a flood of probes (or a benchmark's floor) is not a flood of
        calls to the Kong Admin API."""
        now, state = runtime.clock.monotonic(), breaker.state
        if checked and checked[0][1] is state and now - checked[0][0] < HEALTH_CHECK_REUSE_S:
            return checked[0][2]
        answer = await ask_kong()
        checked[:] = [(now, state, answer)]
        return answer

    async def ask_kong() -> tuple[bool, dict[str, object]]:
        if breaker.state is BreakerState.OPEN:
            details = "Circuit breaker open - Kong Admin API unavailable"
            return False, {"status": "unhealthy", "responseTime": 0, "details": details}
        started = time.perf_counter()
        try:
            await kong.get().ping(config.health_timeout_s)
        except SourceUnavailable as exc:
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            return False, {"status": "unhealthy", "responseTime": elapsed_ms, "details": str(exc)}
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        return True, {"status": "healthy", "responseTime": elapsed_ms}

    # The token routes are the router itself (hot path: one routing level less).
    router = token_router(service.get, runtime.clock, config, cors_of(config, alone=runtime.alone))
    if config.source == "local":
        merge(router, admin_router(consumers.get, runtime.admin_policy(config.admin_token)))
    banner: tuple[str, ...] = ()
    if config.source == "local" and DEMO_CONSUMER in config.consumers:
        banner = demo_banner(runtime.base_url)
    return Capability(
        name="gateway",
        router=router,
        lifespan=lifespan,
        banner=banner,
        health=health if reports_health(settings, runtime) else None,
        seed_health=seed_health if runtime.alone else None,
        operations=Operations((Consumers, consumers.get), (SourceHealth, lambda: source_health))
        if config.source == "local"
        else Operations((SourceHealth, lambda: source_health)),
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
