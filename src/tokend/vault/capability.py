"""Wiring of the vault: catalog, store, provider client, refresher, service, routes, jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from tokend.config import Settings
from tokend.core.admin_auth import AdminPolicy
from tokend.core.body_limit import ADMIN_JSON_MAX_BYTES
from tokend.core.breaker import BreakerPolicy, breaker_gauge
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.surfaces import surface_router
from tokend.jobs.base import JobSpec
from tokend.resources import Resources
from tokend.vault.access import VaultAccess
from tokend.vault.branches_sql import BranchStore
from tokend.vault.demo import DEMO_CLIENT_ID, DEMO_PROVIDER, DemoProvider
from tokend.vault.errors import SEED
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
from tokend.vault.sql import VaultStore
from tokend.vault.states_sql import StateStore

if TYPE_CHECKING:
    from tokend.app import Capability, Runtime

SWEEP_JOB = "vault.refresh_sweep"


class VaultWiring:
    """Builds the service from the resources once they are open (in ``serve`` and in
    ``tokend worker``, which opens resources but runs no capability lifespan)."""

    def __init__(
        self, settings: Settings, runtime: Runtime, catalog: Catalog, metrics: VaultMetrics
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._catalog = catalog
        self._metrics = metrics
        self._built: tuple[Resources, VaultService] | None = None

    def get(self) -> VaultService:
        # ServiceUnavailable while starting or stopping.
        return self.for_resources(self._runtime.resources)

    def for_resources(self, resources: Resources) -> VaultService:
        if self._built is None or self._built[0] is not resources:
            self._built = (resources, self._build(resources))
        return self._built[1]

    def _build(self, resources: Resources) -> VaultService:
        settings, config = self._settings, self._settings.vault
        previous = [key.get_secret_value() for key in settings.previous_secret_keys]
        # The same derivation as the keyring's cipher in app.open_resources.
        cipher = FieldCipher.from_secrets(settings.effective_secret_key(), previous)
        hasher = SecretHasher.from_secrets(settings.effective_secret_key(), previous)
        store = VaultStore(resources.database, cipher, resources.clock)
        providers = ProviderClient(
            resources.http,
            resources.cache,
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
            catalog=self._catalog,
            locks=resources.locks,
            settings=config,
            clock=resources.clock,
            metrics=self._metrics,
            events=events,
            on_change=forget,
        )
        service = VaultService(
            store=store,
            branches=BranchStore(resources.database, resources.clock),
            states=StateStore(resources.database, cipher, resources.clock),
            providers=providers,
            catalog=self._catalog,
            refresher=refresher,
            events=events,
            cache=resources.cache,
            locks=resources.locks,
            cipher=cipher,
            hasher=hasher,
            settings=config,
            clock=resources.clock,
        )
        return service


def build(settings: Settings, runtime: Runtime) -> Capability:
    from tokend.app import Capability  # app imports this module: bind at call time

    config = settings.vault
    if settings.demo_data:
        # The demo runs on one machine for one person: its vault API is open, like the seed's.
        config = config.model_copy(update={"open_access": True})
    catalog = load_catalog(config.providers_file)  # a bad catalog stops start-up, listed
    demo = DemoProvider() if config.demo_provider or settings.demo_data else None
    base_url = settings.server.self_url + ("" if settings.modules == ["vault"] else "/vault")
    if demo is not None:
        catalog = catalog.with_provider(demo.catalog_entry(base_url))
    metrics = VaultMetrics.register(runtime.metrics)
    wiring = VaultWiring(settings, runtime, catalog, metrics)
    policy = AdminPolicy(
        static_tokens=(config.api_token, settings.admin_token),
        issuer=settings.issuer,
        keys=runtime.keyring,
        clock=runtime.clock,
        leeway_s=settings.keys.leeway_s,
    )
    access = VaultAccess(policy, open_access=config.open_access)

    async def sweep() -> None:
        await wiring.get().refresher.sweep()

    async def client_of(client_pk: int) -> ClientRecord:
        return await wiring.get().store.client(client_pk)

    # One router for every seed route (each nesting level costs a match on every request);
    # the hot path, GET /tokens/validate, first: routes are matched in order.
    router = surface_router(SEED, max_body_bytes=ADMIN_JSON_MAX_BYTES, tags=["vault"])
    add_token_routes(router, wiring.get, access)
    add_client_routes(router, wiring.get, access)
    add_connect_routes(router, wiring.get, access, config)
    router.include_router(exchange_router(wiring.get, access))
    banner = [f"vault providers: {', '.join(catalog.names)}"]
    lifespan: Callable[[Resources], AbstractAsyncContextManager[None]] | None = None
    if demo is not None:
        router.include_router(demo.router())
        banner.append(f"vault demo: open {base_url}/oauth/login/<id> of client {DEMO_CLIENT_ID}")

        @asynccontextmanager
        async def seed_demo_connection(resources: Resources) -> AsyncIterator[None]:
            await seed_demo(wiring.for_resources(resources), demo, f"{base_url}/auth/callback")
            yield

        lifespan = seed_demo_connection
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
        prefix="/vault",
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
