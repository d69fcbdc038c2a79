"""Wiring of the vault: catalog, store, provider client, refresher, service, routes, jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tokend.core.breaker import BreakerPolicy, breaker_gauge
from tokend.core.errors import DETAIL
from tokend.core.surfaces import surface_router
from tokend.jobs.base import JobSpec
from tokend.runtime import Capability, Late, Resources, Runtime
from tokend.vault.access import VaultAccess
from tokend.vault.branches_sql import BranchStore
from tokend.vault.demo import DEMO_CLIENT_ID, DEMO_PROVIDER, DemoProvider
from tokend.vault.events import Events, webhook_job
from tokend.vault.metrics import VaultMetrics
from tokend.vault.provider_client import ProviderClient
from tokend.vault.providers import Catalog, load_catalog
from tokend.vault.records import ClientRecord
from tokend.vault.refresher import Refresher
from tokend.vault.routes.clients import add_client_routes
from tokend.vault.routes.exchange import exchange_router
from tokend.vault.routes.oauth import add_connect_routes
from tokend.vault.routes.tokens import add_token_routes
from tokend.vault.schemas import ClientCreate, ClientUpdate
from tokend.vault.service import VaultService
from tokend.vault.settings import VaultSettings
from tokend.vault.sql import VaultStore
from tokend.vault.states_sql import StateStore

SWEEP_JOB = "vault.refresh_sweep"


def open_service(
    config: VaultSettings, resources: Resources, catalog: Catalog, metrics: VaultMetrics
) -> VaultService:
    """The vault's service on the process's resources."""
    store = VaultStore(resources.database, resources.cipher, resources.clock)
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
    events = Events(lambda: resources.jobs, resources.clock)
    service: VaultService | None = None

    async def forget(client_pk: int) -> None:
        assert service is not None
        await service.forget(client_pk)

    refresher = Refresher(
        store=store,
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
        store=store,
        branches=BranchStore(resources.database, resources.clock),
        states=StateStore(resources.database, resources.cipher, resources.clock),
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
    return service


def build(config: VaultSettings, runtime: Runtime) -> Capability:
    site = runtime.site
    if site.demo:
        # The demo runs on one machine for one person: its vault API is open, like the seed's.
        config = config.model_copy(update={"open_access": True})
    catalog = load_catalog(config.providers_file)  # a bad catalog stops start-up, listed
    demo = DemoProvider() if config.demo_provider or site.demo else None
    base_url = runtime.base_url
    if demo is not None:
        catalog = catalog.with_provider(demo.catalog_entry(base_url))
    metrics = VaultMetrics.register(runtime.metrics)
    service: Late[VaultService] = Late("the vault")
    access = VaultAccess(
        config, site.issuer, lambda: runtime.resources.keyring, runtime.clock, site.keys.leeway_s
    )

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        opened = open_service(config, resources, catalog, metrics)
        if demo is not None:
            await seed_demo(opened, demo, f"{base_url}/auth/callback")
        service.set(opened)
        try:
            yield
        finally:
            service.set(None)

    async def sweep() -> None:
        await service.get().refresher.sweep()

    async def client_of(client_pk: int) -> ClientRecord:
        return await service.get().store.client(client_pk)

    # One router for every seed route (each nesting level costs a match on every request);
    # the hot path, GET /tokens/validate, first: routes are matched in order.
    router = surface_router(DETAIL, tags=["vault"])
    add_token_routes(router, service.get, access)
    add_client_routes(router, service.get, access)
    add_connect_routes(router, service.get, access, config)
    router.include_router(exchange_router(service.get, access))
    banner = [f"vault providers: {', '.join(catalog.names)}"]
    if demo is not None:
        router.include_router(demo.router())
        banner.append(f"vault demo: open {base_url}/oauth/login/<id> of client {DEMO_CLIENT_ID}")
    jobs = (
        JobSpec(SWEEP_JOB, sweep, every_s=config.refresh_every_s, timeout_s=300.0, max_retries=0),
        webhook_job(
            client_of,
            lambda: runtime.resources.http,
            runtime.clock,
            config.webhook_timeout_s,
            metrics,
        ),
    )
    return Capability(
        name="vault",
        router=router,
        jobs=jobs,
        banner=tuple(banner),
        lifespan=lifespan,
    )


async def seed_demo(service: VaultService, demo: DemoProvider, redirect_uri: str) -> None:
    """Register the demo client (its secret renewed for this process) and connect it."""
    store = service.store
    existing = await store.client_by_oauth_id(DEMO_CLIENT_ID)
    if existing is None:
        client, _ = await store.create_client(
            ClientCreate(
                client_id=DEMO_CLIENT_ID,
                client_secret=demo.client_secret,
                redirect_uri=redirect_uri,
                provider=DEMO_PROVIDER,
            )
        )
    else:
        client = await store.update_client(
            existing.id,
            ClientUpdate(
                client_secret=demo.client_secret,
                redirect_uri=redirect_uri,
                provider=DEMO_PROVIDER,
                is_active=True,
            ),
        )
    await store.store_connection(client.id, demo.mint())
    await service.forget(client.id)
