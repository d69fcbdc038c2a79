"""Wiring of the broker: directory, operator client, token minter, cache, routes, lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter

from tokend.broker.admin_routes import admin_router
from tokend.broker.demo import demo_directory
from tokend.broker.directory.live import LiveDirectory
from tokend.broker.directory.lookup import Directory
from tokend.broker.metrics import BrokerMetrics
from tokend.broker.operator_client import OperatorClient
from tokend.broker.routes import finder_router, token_router
from tokend.broker.service import BrokerService
from tokend.broker.settings import BrokerSettings
from tokend.broker.tokens import BrokerTokenMinter
from tokend.cache.single_flight import SingleFlight
from tokend.core.breaker import breaker_gauge
from tokend.runtime import Capability, Late, Resources, Runtime


def build(config: BrokerSettings, runtime: Runtime) -> Capability:
    metrics = BrokerMetrics.register(runtime.metrics)
    gauge = breaker_gauge(runtime.metrics)
    path = config.directory_file
    if path is None and runtime.site.demo:
        initial = demo_directory(runtime.site.self_url)
    else:
        initial = Directory.of((), str(path) if path else "empty")
    # Issue 5: directory secrets may be ``${ENV_VAR}`` references, resolved when a file loads.
    live = LiveDirectory(initial, path, os.environ)
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
                        config, runtime.site.issuer, resources.keyring.signing_key
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

    router = APIRouter()
    router.include_router(token_router(service.get))
    router.include_router(finder_router(live))
    router.include_router(admin_router(live, runtime.admin_policy(config.admin_token)))
    return Capability(
        name="broker",
        router=router,
        lifespan=lifespan,
        banner=(f"broker directory: {initial.source} ({len(initial.entries)} prefixes)",),
    )
