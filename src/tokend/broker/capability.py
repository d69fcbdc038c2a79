"""Wiring of the broker: directory, operator client, token minter, cache, routes, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from tokend.broker.admin import admin_router
from tokend.broker.demo import demo_directory
from tokend.broker.directory.live import LiveDirectory
from tokend.broker.directory.lookup import Directory
from tokend.broker.directory.validation import entry_rules
from tokend.broker.metrics import BrokerMetrics
from tokend.broker.operator_client import OperatorClient
from tokend.broker.routes import finder_router, token_router
from tokend.broker.service import BrokerService, TelcoFinder
from tokend.broker.settings import BrokerSettings
from tokend.broker.tokens import BrokerTokenMinter
from tokend.cache.single_flight import SingleFlight
from tokend.core.breaker import breaker_gauge
from tokend.core.routing import api_router, merge
from tokend.runtime import Capability, Late, Operations, Resources, Runtime


def build(config: BrokerSettings, runtime: Runtime) -> Capability:
    metrics = BrokerMetrics.register(runtime.metrics)
    gauge = breaker_gauge(runtime.metrics)
    path = config.directory_file
    site = runtime.site
    if path is None and site.demo:
        initial = demo_directory(site.self_url)
    else:
        initial = Directory.of((), str(path) if path else "empty")
    # File secrets may be ${TOKEND_TELCO_SECRET_*} references, read from the settings block;
    # operator URLs answer to the outbound policy (the demo's own address is allowed in it).
    rules = entry_rules(config, site.outbound)
    live = LiveDirectory(initial, path, rules)
    audience = config.token_audience or f"{site.issuer}/broker"
    service: Late[BrokerService] = Late("the broker")

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        await live.reload()  # a bad file stops start-up with its problems listed
        async with anyio.create_task_group() as background:
            operators = OperatorClient(resources.http, config, resources.clock, metrics, gauge)
            service.set(
                BrokerService(
                    directory=lambda: live.current,
                    operators=operators,
                    minter=BrokerTokenMinter(
                        config, site.issuer, audience, resources.keyring.signing_key
                    ),
                    cache=resources.cache,
                    flights=SingleFlight(),
                    background=background,
                    settings=config,
                    metrics=metrics,
                    clock=resources.clock,
                )
            )
            if path is not None and config.watch_directory:
                background.start_soon(live.watch)
            try:
                yield
            finally:
                service.set(None)
                background.cancel_scope.cancel()

    router = api_router()
    seed_errors = runtime.alone if config.seed_errors is None else config.seed_errors
    merge(router, token_router(service.get, seed_errors=seed_errors))
    merge(router, finder_router(TelcoFinder(lambda: live.current)))
    merge(router, admin_router(live, runtime.admin_policy(config.admin_token)))
    return Capability(
        name="broker",
        router=router,
        lifespan=lifespan,
        banner=(f"broker directory: {initial.source} ({len(initial.entries)} prefixes)",),
        operations=Operations((LiveDirectory, lambda: live)),
    )
