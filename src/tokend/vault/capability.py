"""Wiring of the vault: catalog, stores, provider client, refresher, service, routes, jobs.

The one module that picks the stores' implementations (:mod:`tokend.vault.sql`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.breaker import BreakerPolicy, breaker_gauge
from tokend.core.routing import merge
from tokend.core.surfaces import surface_router
from tokend.jobs.base import JobSpec
from tokend.runtime import Capability, Late, Operations, Resources, Runtime
from tokend.vault.access import VaultAccess
from tokend.vault.demo import DEMO_CLIENT_ID, DemoProvider, seed_demo
from tokend.vault.errors import VAULT_DETAIL
from tokend.vault.events import DELIVERIES_KEPT_S, Events, webhook_job
from tokend.vault.metrics import VaultMetrics
from tokend.vault.provider_client import ProviderClient
from tokend.vault.providers import Catalog, load_catalog
from tokend.vault.records import ClientRecord
from tokend.vault.refresher import Refresher
from tokend.vault.registry import Registry
from tokend.vault.routes.clients import add_client_routes
from tokend.vault.routes.exchange import exchange_router
from tokend.vault.routes.oauth import add_connect_routes
from tokend.vault.routes.tokens import add_token_routes
from tokend.vault.seed_routes import health_answer, service_root_router
from tokend.vault.service import VaultService
from tokend.vault.settings import VaultSettings
from tokend.vault.sql import (
    SqlBranches,
    SqlClients,
    SqlConnections,
    SqlStates,
    SqlWebhookDeliveries,
)
from tokend.vault.stores import WebhookDeliveries

SWEEP_JOB = "vault.refresh_sweep"


@dataclass(frozen=True, slots=True)
class Vault:
    """The vault's logic on the process's resources: what its routes and jobs call."""

    service: VaultService
    registry: Registry
    #: Events sent to clients' webhooks and how their deliveries went (the console's page).
    deliveries: WebhookDeliveries
    events: Events


def open_vault(
    config: VaultSettings, resources: Resources, catalog: Catalog, metrics: VaultMetrics
) -> Vault:
    """The vault's service and registry on the SQL stores and the process's resources."""
    clients = SqlClients(resources.database, resources.cipher, resources.clock)
    connections = SqlConnections(resources.database, resources.cipher, resources.clock)
    providers = ProviderClient(
        resources.http,
        config.provider_timeout_s,
        clock=resources.clock,
        gauge=breaker_gauge(resources.metrics),
        policy=BreakerPolicy(
            failure_ratio=config.breaker_failure_ratio,
            min_calls=config.breaker_min_calls,
            reset_after_s=config.breaker_reset_after_s,
        ),
    )
    deliveries = SqlWebhookDeliveries(resources.database)
    events = Events(lambda: resources.jobs, resources.clock, deliveries)
    service: VaultService | None = None

    async def forget(client_pk: int) -> None:
        assert service is not None
        await service.forget(client_pk)

    refresher = Refresher(
        store=connections,
        providers=providers,
        catalog=catalog,
        locks=resources.locks,
        settings=config,
        clock=resources.clock,
        metrics=metrics,
        events=events,
        on_change=forget,
    )
    service = VaultService(
        clients=clients,
        connections=connections,
        states=SqlStates(resources.database, resources.cipher, resources.clock),
        providers=providers,
        catalog=catalog,
        refresher=refresher,
        events=events,
        cache=resources.cache,
        locks=resources.locks,
        cipher=resources.cipher,
        hasher=resources.hasher,
        settings=config,
        clock=resources.clock,
    )
    registry = Registry(
        clients=clients,
        branches=SqlBranches(resources.database, resources.clock),
        catalog=catalog,
        on_change=forget,
        url_refusal=providers.url_refusal,
    )
    return Vault(service, registry, deliveries, events)


def build(config: VaultSettings, runtime: Runtime) -> Capability:
    site = runtime.site
    if site.demo:
        # The demo runs on one machine for one person: its vault API is open, like the seed's.
        config = config.model_copy(update={"open_access": True})
    catalog = load_catalog(config.providers_file)  # a bad catalog stops start-up, listed
    base_url = runtime.base_url
    demo = (
        DemoProvider(redirect_uri=f"{base_url}/auth/callback")
        if config.demo_provider or site.demo
        else None
    )
    if demo is not None:
        catalog = catalog.with_provider(demo.catalog_entry(base_url))
    metrics = VaultMetrics.register(runtime.metrics)
    vault: Late[Vault] = Late("the vault")
    access = VaultAccess(runtime.admin_policy(config.api_token), open_access=config.open_access)

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        opened = open_vault(config, resources, catalog, metrics)
        if demo is not None:
            await seed_demo(opened.registry, opened.service, demo)
        vault.set(opened)
        try:
            yield
        finally:
            vault.set(None)

    def service() -> VaultService:
        return vault.get().service

    def registry() -> Registry:
        return vault.get().registry

    async def sweep() -> None:
        await service().refresher.sweep()
        kept_since = runtime.clock.now() - timedelta(seconds=DELIVERIES_KEPT_S)
        await vault.get().deliveries.purge(kept_since)

    async def client_of(client_pk: int) -> ClientRecord:
        return await registry().client(client_pk)

    # One router for every seed route (each nesting level costs a match on every request);
    # the hot path, GET /tokens/validate, first: routes are matched in order.
    router = surface_router(VAULT_DETAIL, max_body_bytes=ADMIN_JSON_MAX_BYTES, tags=["vault"])
    add_token_routes(router, service, registry, access)
    add_client_routes(router, registry, access)
    add_connect_routes(router, service, access, config)
    merge(router, exchange_router(service, access))
    if runtime.alone:
        merge(router, service_root_router(runtime))
    banner = [f"vault providers: {', '.join(catalog.names)}"]
    if demo is not None:
        merge(router, demo.router())
        banner.append(f"vault demo: open {base_url}/oauth/login/<id> of client {DEMO_CLIENT_ID}")
    jobs = (
        JobSpec(SWEEP_JOB, sweep, every_s=config.refresh_every_s, timeout_s=300.0, max_retries=0),
        webhook_job(
            client_of,
            lambda: runtime.resources.http,
            runtime.clock,
            config.webhook_timeout_s,
            metrics,
            lambda: vault.get().deliveries,
        ),
    )
    return Capability(
        name="vault",
        router=router,
        jobs=jobs,
        banner=tuple(banner),
        lifespan=lifespan,
        seed_health=(lambda: health_answer(runtime)) if runtime.alone else None,
        operations=Operations((Vault, vault.get), (Catalog, lambda: catalog)),
    )
