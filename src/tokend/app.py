"""create_app(settings): the one module that knows every capability and wires them.

Routes are declared when the app is created; the resources they use (database, cache, keyring,
jobs, HTTP client) are opened by the lifespan and reached through each capability's
:class:`~tokend.runtime.Runtime`, so creating an app does no I/O and a test can create as many
as it likes.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Scope

from tokend import __version__
from tokend.cache.lock import open_locks
from tokend.cache.tiered import open_cache
from tokend.config import Settings, load_handoff
from tokend.core.admin_auth import AdminPolicy
from tokend.core.body_limit import BodyLimitMiddleware
from tokend.core.clock import Clock, SystemClock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import PROBLEM
from tokend.core.http import open_http_client
from tokend.core.jwks_route import jwks_router
from tokend.core.keys import REMOVE_RETIRED_EVERY_S, REMOVE_RETIRED_JOB, Keyring
from tokend.core.revocations import PURGE_EVERY_S, PURGE_JOB, Revocations
from tokend.core.routing import merge
from tokend.core.surfaces import SurfaceResolver, install_error_handlers
from tokend.jobs.backend import open_jobs
from tokend.jobs.base import Jobs, JobSpec
from tokend.jobs.inprocess import InProcessJobs
from tokend.obs.health import ReadinessCheck, health_router
from tokend.obs.logging import LINES, AccessLog, configure_logging
from tokend.obs.metrics import HttpMetrics, new_registry, serving_metrics, worker_stopped
from tokend.obs.metrics_route import metrics_router
from tokend.obs.middleware import RequestContextMiddleware
from tokend.obs.tracing import configure_tracing, trace_engine
from tokend.runtime import Build, Capability, Resources, ResourceSlot, Runtime
from tokend.server.lean import LeanDispatch, TokendApp, hot_table
from tokend.server.peer import ForwardedHeaders
from tokend.site import Site
from tokend.store.audit import PURGE_AUDIT_EVERY_S, PURGE_AUDIT_JOB, SqlAuditEvents
from tokend.store.engine import open_database
from tokend.store.revocations import SqlRevocations

log = structlog.get_logger("tokend.app")

JOBS_MONITOR_PATH = "/admin/jobs"
CONSOLE_PATH = "/console"


@dataclass(frozen=True, slots=True)
class Mount:
    """Where a capability's ``build`` lives and where it sits in the all-in-one app."""

    module: str
    prefix: str


#: Every capability, in mount order. A process imports only the capabilities it serves
#: (``tokend serve --only gateway`` loads no OIDC code): :func:`build_capability` imports the
#: module on first use.
MOUNTS: Final[Mapping[str, Mount]] = {
    "oidc": Mount("tokend.oidc.capability", ""),
    "broker": Mount("tokend.broker.capability", "/broker"),
    "telco": Mount("tokend.telco.capability", "/telcos"),
    "vault": Mount("tokend.vault.capability", "/vault"),
    "gateway": Mount("tokend.gateway.capability", "/gateway"),
    "guard": Mount("tokend.guard.capability", "/guard"),
}

if TYPE_CHECKING:  # mypy checks each registered ``build`` against its settings block
    from tokend.broker import capability as _broker
    from tokend.broker.settings import BrokerSettings
    from tokend.gateway import capability as _gateway
    from tokend.gateway.settings import GatewaySettings
    from tokend.guard import capability as _guard
    from tokend.guard.settings import GuardSettings
    from tokend.oidc import capability as _oidc
    from tokend.oidc.settings import OidcSettings
    from tokend.telco import capability as _telco
    from tokend.telco.settings import TelcoSettings
    from tokend.vault import capability as _vault
    from tokend.vault.settings import VaultSettings

    _BUILDS: tuple[
        Build[OidcSettings],
        Build[BrokerSettings],
        Build[TelcoSettings],
        Build[VaultSettings],
        Build[GatewaySettings],
        Build[GuardSettings],
    ] = (_oidc.build, _broker.build, _telco.build, _vault.build, _gateway.build, _guard.build)


def create_app(settings: Settings, *, clock: Clock | None = None) -> TokendApp:
    """The ASGI app for ``settings``; nothing is opened until its lifespan starts."""
    configure_logging(settings.log, settings.env)
    clock = clock or SystemClock()
    registry = new_registry()
    slot = ResourceSlot()
    resolver = SurfaceResolver(default=PROBLEM, prefixes=(("/admin", PROBLEM),))
    mounted = build_capabilities(settings, registry, clock, slot)
    capabilities = [capability for capability, _ in mounted]
    console = build_console(settings, registry, clock, slot, capabilities)
    if console is not None:  # after the capabilities: its lifespan needs the provider's
        capabilities.append(console)
    # Opened here (no I/O yet) so the queue monitor can be mounted with the routes.
    jobs = open_jobs(settings.jobs, settings.redis, registry)
    register_jobs(settings, slot, capabilities, jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The capabilities' lifespans sit inside the task group so that a capability's own
        # task group (its cancel scope) is closed before this one is.
        async with (
            open_resources(settings, registry, clock, jobs) as resources,
            anyio.create_task_group() as tasks,
        ):
            async with enter_lifespans(capabilities, resources):
                tasks.start_soon(resources.keyring.run_refresh_loop)
                await resources.jobs.start()
                slot.set(resources)
                if app.freeze_gc_after_start:
                    freeze_startup_objects()
                log.info("tokend.started", env=settings.env.value, modules=settings.modules)
                try:
                    with serving_metrics(registry, settings.server.host, settings.metrics.port):
                        yield
                finally:
                    slot.set(None)
            tasks.cancel_scope.cancel()
        worker_stopped()
        log.info("tokend.stopped")
        LINES.flush()  # the held access lines too, before the server lets the process end

    app = TokendApp(
        title="tokend",
        version=__version__,
        summary="Issues, brokers, stores and validates tokens.",
        lifespan=lifespan,
        # Production serves no API documentation unless server.api_docs says so.
        docs_url="/docs" if settings.has_api_docs else None,
        openapi_url="/openapi.json" if settings.has_api_docs else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.resources = slot
    app.state.banner = tuple(line for c in capabilities for line in c.banner)
    app.state.metrics_registry = registry
    install_error_handlers(app, resolver, __version__)
    health_details = [c.health for c in capabilities if c.health is not None]
    seed_health = [c.seed_health for c in capabilities if c.seed_health is not None]
    # Routes without a prefix join the app's router as built (core.routing: no second build).
    merge(
        app.router,
        health_router(
            lambda: readiness_checks(slot.get()),
            health_details,
            seed_health[0] if len(capabilities) == 1 and seed_health else None,
        ),
        jwks_router(lambda: slot.get().keyring, settings.keys.jwks_max_age_s),
    )
    if settings.metrics.port is None:  # else on a port of their own (serving_metrics)
        merge(app.router, metrics_router(registry, settings.metrics.token))
    if console is not None and console.router is not None:
        app.include_router(console.router)
        gate_by_prefix(app.router.routes[-1], CONSOLE_PATH)
    if settings.has_landing_page:
        merge(app.router, landing_router(settings, console is not None))
    # Prefixed capabilities first: behind their gate they cost a request elsewhere one string
    # comparison, while a root-level router's routes are each tried in turn.
    for capability, prefix in sorted(mounted, key=lambda mount: not mount[1]):
        if capability.router is None:
            continue
        if prefix:
            app.include_router(capability.router, prefix=prefix)
            gate_by_prefix(app.router.routes[-1], prefix)
        else:
            merge(app.router, capability.router)
    if not isinstance(jobs, InProcessJobs) and settings.jobs.monitor:
        from tokend.jobs.monitor import monitor_app  # SAQ's web UI: only when mounted
        from tokend.jobs.saq_queue import SaqJobs

        assert isinstance(jobs, SaqJobs)  # the one other backend (tokend.jobs.backend)

        monitor = monitor_app(jobs, JOBS_MONITOR_PATH)
        admin = AdminPolicy(
            static_tokens=(settings.admin_token,),
            issuer=settings.issuer,
            keys=lambda: slot.get().keyring,
            clock=clock,
            leeway_s=settings.keys.leeway_s,
            revocations=lambda: slot.get().revocations,
        )
        app.mount(JOBS_MONITOR_PATH, admin.protect(monitor, PROBLEM, __version__))
    tracing = configure_tracing(settings.otel, app, __version__)
    # tokend's own pure-ASGI front, ahead of FastAPI's stack (tokend.server.lean): the TCP peer
    # is kept before a trusted proxy's X-Forwarded-For names the client, then request id,
    # metrics and access log, the body limit, and the hot routes by a dict lookup. Traced apps
    # go through FastAPI's stack, where OpenTelemetry instruments them.
    prefixes = {"": "", **{capability.name: prefix for capability, prefix in mounted}}
    lean = settings.server.lean_path and not tracing
    http_metrics = HttpMetrics.register(registry)

    def front(fastapi_stack: ASGIApp) -> ASGIApp:
        inner = (
            LeanDispatch(fastapi_stack, app, lambda: hot_table(app, prefixes))
            if lean
            else fastapi_stack
        )
        bounded = BodyLimitMiddleware(
            app.with_user_middleware(inner),
            default_max_bytes=settings.server.max_body_bytes,
            read_timeout_s=settings.server.body_timeout_s,
            resolver=resolver,
            version=__version__,
        )
        observed = RequestContextMiddleware(
            bounded,
            metrics=http_metrics,
            resolver=resolver,
            version=__version__,
            access_log=AccessLog.for_settings(settings.log, settings.env),
        )
        return ForwardedHeaders(observed, trusted=settings.server.forwarded_allow_ips)

    app.front_factory = front
    return app


def freeze_startup_objects() -> None:
    """Move what start-up built (routes, models, settings, keys: ~220k objects with every
    capability) out of the garbage collector's sight. Each full collection walked them all,
    100-300 ms with the event loop stopped on this 2-core machine, every few thousand requests:
    that was the p99 (README "Performance"). They live as long as the process, so collecting
    them never frees anything; ``gc.freeze`` is CPython's own tool for exactly this. The
    collector is then on (``tokend serve`` keeps it off while it builds the app).

    No ``gc.collect()`` first (CPython's recipe for ``gc.freeze`` has none): one walked all of
    them to find what start-up left unreachable, 229 ms of a 2.9 s start on the 2-core machine
    for 914 objects, which now stay frozen: a fixed cost, 0.7 MB more resident when measured."""
    gc.freeze()
    gc.enable()


def gate_by_prefix(route: BaseRoute, prefix: str) -> None:
    """Make the router ``route`` (just included under ``prefix``) decline paths outside it at once.

    FastAPI (0.16x) keeps an included router as one lazy route whose ``matches`` tries each of
    its routes in turn, prefix or not; with every capability mounted, a request to the last
    one spent a third of its time there (py-spy, bench ``guard_protected_route``). FastAPI has
    no option to skip a router by prefix, so its ``matches`` is wrapped on this instance: the
    route stays what it is for OpenAPI, ``url_for`` and the rest of FastAPI.
    """
    inner = route.matches
    under = prefix.rstrip("/") + "/"

    def matches(scope: Scope) -> tuple[Match, Scope]:
        path = _route_path(scope)
        if path == prefix or path.startswith(under):
            return inner(scope)
        return Match.NONE, {}

    route.matches = matches  # type: ignore[method-assign]


def _route_path(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def build_capability(
    name: str,
    settings: Settings,
    site: Site,
    registry: CollectorRegistry,
    clock: Clock,
    slot: ResourceSlot,
) -> tuple[Capability, str]:
    """Import capability ``name``, build it from its settings block, and say where it mounts
    (its prefix in the all-in-one app, the root when it is served alone)."""
    mount = MOUNTS[name]
    prefix = "" if site.modules == (name,) else mount.prefix
    runtime = Runtime(name, site, prefix, registry, clock, slot)
    build: Build[Any] = import_module(mount.module).build
    return build(getattr(settings, name), runtime), prefix


def build_console(
    settings: Settings,
    registry: CollectorRegistry,
    clock: Clock,
    slot: ResourceSlot,
    capabilities: list[Capability],
) -> Capability | None:
    """The operator console over ``capabilities`` (None when disabled or without the OpenID
    provider, through which it signs in)."""
    if not settings.console.enabled or "oidc" not in settings.modules:
        return None
    from tokend.console.capability import build  # imported only when it is served

    runtime = Runtime("console", settings.site(), CONSOLE_PATH, registry, clock, slot)
    return build(settings.console, runtime, capabilities)


def landing_router(settings: Settings, has_console: bool) -> APIRouter:
    from tokend.console.landing import landing_router as router
    from tokend.console.web import Templates

    return router(
        Templates(), modules=settings.modules, issuer=settings.issuer, console=has_console,
        docs=settings.has_api_docs, demo=settings.demo_data,
    )  # fmt: skip


def build_capabilities(
    settings: Settings, registry: CollectorRegistry, clock: Clock, slot: ResourceSlot
) -> list[tuple[Capability, str]]:
    site = settings.site()
    return [build_capability(name, settings, site, registry, clock, slot) for name in site.modules]


def register_jobs(
    settings: Settings, slot: ResourceSlot, capabilities: list[Capability], jobs: Jobs
) -> None:
    """Register the shared blocks' jobs and every capability's on ``jobs``."""
    for spec in shared_jobs(settings, slot):
        jobs.register(spec)
    for capability in capabilities:
        for spec in capability.jobs:
            jobs.register(spec)


def shared_jobs(settings: Settings, slot: ResourceSlot) -> tuple[JobSpec, ...]:
    """The shared blocks' jobs, whatever capabilities run: removing keys retired too long ago,
    deny-list entries no token needs any more, and audit events past their retention."""
    retention = timedelta(seconds=settings.retired_key_retention_s())
    audit_kept = timedelta(days=settings.console.audit_retention_days)

    async def remove_retired_keys() -> None:
        await slot.get().keyring.remove_retired(older_than=retention)

    async def purge_revocations() -> None:
        await slot.get().revocations.purge()

    async def purge_audit() -> None:
        resources = slot.get()
        await SqlAuditEvents(resources.database).purge(resources.clock.now() - audit_kept)

    # Idempotent: replicas and workers running them at once delete each row once.
    return (
        JobSpec(
            REMOVE_RETIRED_JOB, remove_retired_keys, every_s=REMOVE_RETIRED_EVERY_S, max_retries=0
        ),
        JobSpec(PURGE_JOB, purge_revocations, every_s=PURGE_EVERY_S, max_retries=0),
        JobSpec(PURGE_AUDIT_JOB, purge_audit, every_s=PURGE_AUDIT_EVERY_S, max_retries=0),
    )


@asynccontextmanager
async def enter_lifespans(
    capabilities: list[Capability], resources: Resources
) -> AsyncIterator[None]:
    """Each capability's lifespan, entered in mount order and exited in reverse."""
    async with AsyncExitStack() as stack:
        for capability in capabilities:
            if capability.lifespan is not None:
                await stack.enter_async_context(capability.lifespan(resources))
        yield


@asynccontextmanager
async def worker_resources(settings: Settings, jobs: Jobs) -> AsyncIterator[None]:
    """What ``tokend worker`` runs its jobs with: the keyring's and the enabled capabilities'
    jobs registered on ``jobs``, the same resources ``serve`` opens and the same capability
    lifespans entered, so a job finds what a request finds."""
    clock = SystemClock()
    registry = new_registry()
    slot = ResourceSlot()
    capabilities = [c for c, _ in build_capabilities(settings, registry, clock, slot)]
    register_jobs(settings, slot, capabilities, jobs)
    async with (
        open_resources(settings, registry, clock, jobs) as resources,
        enter_lifespans(capabilities, resources),
    ):
        slot.set(resources)
        try:
            yield
        finally:
            slot.set(None)


@asynccontextmanager
async def open_resources(
    settings: Settings, registry: CollectorRegistry, clock: Clock, jobs: Jobs
) -> AsyncIterator[Resources]:
    """Open everything a running tokend holds, and close it all in reverse order; ``jobs`` is
    opened by the caller (it registers its jobs first) and closed here."""
    if settings.demo_data:
        from tokend.store import migrate  # Alembic: only a demo server migrates itself
        from tokend.store.demo_mark import claim_for_demo

        # Demo data goes only into a database a demo run created (NotADemoDatabase otherwise).
        await claim_for_demo(settings.database)
        await anyio.to_thread.run_sync(migrate.upgrade, settings.database)
    secrets = settings.secret_keys()
    async with AsyncExitStack() as stack:
        database = open_database(settings.database)
        stack.push_async_callback(database.close)
        trace_engine(settings.otel, database.engine)
        cache = open_cache(settings.redis, settings.cache, registry, clock)
        stack.push_async_callback(cache.close)
        http = open_http_client(settings.http, settings.outbound_allowances())
        stack.push_async_callback(http.aclose)
        stack.push_async_callback(jobs.close)
        cipher = FieldCipher.from_secrets(secrets.current, list(secrets.previous))
        keyring = await Keyring.open(database, cipher, settings.keys, clock)
        revocations = Revocations(
            SqlRevocations(database), cache, clock, settings.keys.revocation_check_ttl_s
        )
        yield Resources(
            database=database,
            cache=cache,
            locks=open_locks(settings.redis, database, cache),
            keyring=keyring,
            cipher=cipher,
            hasher=SecretHasher.from_secrets(secrets.current, list(secrets.previous)),
            jobs=jobs,
            http=http,
            metrics=registry,
            clock=clock,
            revocations=revocations,
        )


def readiness_checks(resources: Resources) -> Mapping[str, ReadinessCheck]:

    async def database() -> str:
        await resources.database.ping()
        return "ok"

    async def cache() -> str:
        return await resources.cache.health()

    return {"database": database, "cache": cache}


def app_from_environment() -> TokendApp:
    """Factory for multi-worker servers: each worker rebuilds the Settings the CLI handed off."""
    app = create_app(load_handoff())
    app.freeze_gc_after_start = True
    return app
