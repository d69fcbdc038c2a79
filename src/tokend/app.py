"""create_app(settings): the one module that knows every capability and wires them.

Routes are declared when the app is created; the resources they use (database, cache, keyring,
jobs, HTTP client) are opened by the lifespan and reached through :class:`Runtime`, so creating an
app does no I/O and a test can create as many as it likes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

import anyio
import structlog
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from tokend import __version__
from tokend.cache import open_cache, open_locks
from tokend.config import Settings, load_handoff
from tokend.core.admin_auth import AdminPolicy
from tokend.core.body_limit import BodyLimitMiddleware
from tokend.core.clock import Clock, SystemClock
from tokend.core.crypto import FieldCipher
from tokend.core.errors import PROBLEM, ServiceUnavailable
from tokend.core.http import open_http_client
from tokend.core.jwks_route import jwks_router
from tokend.core.keys import Keyring
from tokend.core.surfaces import SurfaceResolver, install_error_handlers
from tokend.jobs import Jobs, SaqJobs, open_jobs
from tokend.jobs.base import JobSpec
from tokend.obs.health import ReadinessCheck, health_router
from tokend.obs.logging import configure_logging
from tokend.obs.metrics import HttpMetrics, metrics_router, new_registry
from tokend.obs.middleware import RequestContextMiddleware
from tokend.obs.tracing import configure_tracing, trace_engine
from tokend.resources import Resources
from tokend.store.engine import open_database

log = structlog.get_logger("tokend.app")

JOBS_MONITOR_PATH = "/admin/jobs"

#: What builds a capability from the settings and the runtime.
Build = Callable[["Settings", "Runtime"], "Capability"]


class LazyBuilds(Mapping[str, Build]):
    """Capability name -> its ``build``, importing the capability's module on first lookup.

    A process serving one capability (``tokend serve --only gateway``) imports only that one:
    ``name in`` and iteration never import, ``[name]`` imports ``module`` and reads ``build``.
    """

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = dict(modules)

    def __getitem__(self, name: str) -> Build:
        build: Build = import_module(self._modules[name]).build
        return build

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


#: Capabilities that exist today, by module name. A capability's ``build`` returns a
#: :class:`Capability`; names in ``TOKEND_MODULES`` without an entry here are not built yet.
CAPABILITIES: Mapping[str, Build] = LazyBuilds(
    {
        "oidc": "tokend.oidc.capability",
        "broker": "tokend.broker.capability",
        "telco": "tokend.broker.telco",
        "gateway": "tokend.gateway.capability",
        "vault": "tokend.vault.capability",
        "guard": "tokend.guard.capability",
    }
)

if TYPE_CHECKING:  # mypy still checks each registered ``build`` against ``Build``
    from tokend.broker import capability as _broker
    from tokend.broker import telco as _telco
    from tokend.gateway import capability as _gateway
    from tokend.guard import capability as _guard
    from tokend.oidc import capability as _oidc
    from tokend.vault import capability as _vault

    _BUILDS: tuple[Build, ...] = (
        _oidc.build,
        _broker.build,
        _telco.build,
        _gateway.build,
        _vault.build,
        _guard.build,
    )


@dataclass(slots=True)
class Runtime:
    """What a capability's ``build`` gets: the settings and metrics registry now, the
    resources (database, cache, keyring, ...) once the lifespan has opened them."""

    settings: Settings
    #: The app's Prometheus registry; capabilities register their metrics on it in ``build``.
    metrics: CollectorRegistry
    clock: Clock
    _resources: Resources | None = None

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            raise ServiceUnavailable("tokend is starting or stopping")
        return self._resources

    def keyring(self) -> Keyring:
        return self.resources.keyring


@dataclass(frozen=True, slots=True)
class Capability:
    """What a capability's ``build`` hands back to be mounted."""

    name: str
    router: APIRouter | None = None
    #: Where the router goes in the all-in-one app; served alone, a capability sits at the root.
    prefix: str = ""
    jobs: tuple[JobSpec, ...] = ()
    #: Lines for the start-up banner (URLs, demo credentials).
    banner: tuple[str, ...] = field(default=())
    #: Entered once the resources are open (load files, start watchers); exited on shutdown.
    lifespan: Callable[[Resources], AbstractAsyncContextManager[None]] | None = None
    #: Extra members of the ``GET /health`` body (e.g. an upstream breaker's state).
    health: Callable[[], Mapping[str, object]] | None = None


def create_app(settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """The ASGI app for ``settings``; nothing is opened until its lifespan starts."""
    configure_logging(settings.log, settings.env)
    clock = clock or SystemClock()
    registry = new_registry()
    runtime = Runtime(settings, registry, clock)
    resolver = SurfaceResolver(default=PROBLEM, prefixes=(("/admin", PROBLEM),))
    capabilities = build_capabilities(settings, runtime)
    # Opened here (no I/O yet) so the queue monitor can be mounted with the routes.
    jobs = open_jobs(settings.jobs, settings.redis, registry)
    register_capability_jobs(capabilities, jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The hooks sit inside the task group so that a capability's own task group (its
        # cancel scope) is closed before this one is.
        async with (
            open_resources(settings, registry, clock, jobs) as resources,
            anyio.create_task_group() as tasks,
        ):
            async with AsyncExitStack() as hooks:
                for capability in capabilities:
                    if capability.lifespan is not None:
                        await hooks.enter_async_context(capability.lifespan(resources))
                tasks.start_soon(resources.keyring.run_refresh_loop)
                await resources.jobs.start()
                runtime._resources = resources
                log.info("tokend.started", env=settings.env.value, modules=settings.modules)
                try:
                    yield
                finally:
                    runtime._resources = None
            tasks.cancel_scope.cancel()
        log.info("tokend.stopped")

    app = FastAPI(
        title="tokend",
        version=__version__,
        summary="Issues, brokers, stores and validates tokens.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.banner = tuple(line for c in capabilities for line in c.banner)
    app.state.metrics_registry = registry
    install_error_handlers(app, resolver, __version__)
    health_details = [c.health for c in capabilities if c.health is not None]
    app.include_router(health_router(lambda: readiness_checks(runtime), health_details))
    app.include_router(jwks_router(runtime.keyring, settings.keys.jwks_max_age_s))
    app.include_router(metrics_router(registry))
    alone = len(capabilities) == 1
    # Prefixed capabilities first: behind their gate they cost a request elsewhere one string
    # comparison, while a root-level router's routes are each tried in turn.
    for capability in sorted(capabilities, key=lambda c: not c.prefix):
        if capability.router is None:
            continue
        prefix = "" if alone else capability.prefix
        app.include_router(capability.router, prefix=prefix)
        if prefix:
            gate_by_prefix(app.router.routes[-1], prefix)
    if isinstance(jobs, SaqJobs) and settings.jobs.monitor:
        from tokend.jobs.monitor import monitor_app  # SAQ's web UI: only when mounted

        monitor = monitor_app(jobs, JOBS_MONITOR_PATH)
        admin = AdminPolicy(
            static_tokens=(settings.admin_token,),
            issuer=settings.issuer,
            keys=runtime.keyring,
            clock=clock,
            leeway_s=settings.keys.leeway_s,
        )
        app.mount(JOBS_MONITOR_PATH, admin.protect(monitor, PROBLEM, __version__))
    app.add_middleware(
        BodyLimitMiddleware,
        default_max_bytes=settings.server.max_body_bytes,
        read_timeout_s=settings.server.body_timeout_s,
        resolver=resolver,
        version=__version__,
    )
    app.add_middleware(
        RequestContextMiddleware,
        metrics=HttpMetrics.register(registry),
        resolver=resolver,
        version=__version__,
        access_log=settings.log.access_log,
    )
    configure_tracing(settings.otel, app, __version__)
    return app


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


def enabled_modules(settings: Settings) -> list[str]:
    return [name for name in settings.modules if name in CAPABILITIES]


def build_capabilities(settings: Settings, runtime: Runtime) -> list[Capability]:
    return [CAPABILITIES[name](settings, runtime) for name in enabled_modules(settings)]


def register_capability_jobs(capabilities: list[Capability], jobs: Jobs) -> None:
    for capability in capabilities:
        for spec in capability.jobs:
            jobs.register(spec)


@asynccontextmanager
async def worker_resources(settings: Settings, jobs: Jobs) -> AsyncIterator[None]:
    """What ``tokend worker`` runs its jobs with: the enabled capabilities' jobs registered on
    ``jobs`` and the same resources ``serve`` opens, so a job reaches the database and cache."""
    clock = SystemClock()
    runtime = Runtime(settings, new_registry(), clock)
    register_capability_jobs(build_capabilities(settings, runtime), jobs)
    async with open_resources(settings, runtime.metrics, clock, jobs) as resources:
        runtime._resources = resources
        try:
            yield
        finally:
            runtime._resources = None


@asynccontextmanager
async def open_resources(
    settings: Settings, registry: CollectorRegistry, clock: Clock, jobs: Jobs
) -> AsyncIterator[Resources]:
    """Open everything a running tokend holds, and close it all in reverse order; ``jobs`` is
    opened by the caller (it registers its jobs first) and closed here."""
    if settings.demo_data:
        from tokend.store import migrate  # Alembic: only a demo server migrates itself

        await anyio.to_thread.run_sync(migrate.upgrade, settings.database)
    async with AsyncExitStack() as stack:
        database = open_database(settings.database)
        stack.push_async_callback(database.close)
        trace_engine(settings.otel, database.engine)
        cache = open_cache(settings.redis, settings.cache, registry, clock)
        stack.push_async_callback(cache.close)
        http = open_http_client()
        stack.push_async_callback(http.aclose)
        stack.push_async_callback(jobs.close)
        cipher = FieldCipher.from_secrets(
            settings.effective_secret_key(),
            [key.get_secret_value() for key in settings.previous_secret_keys],
        )
        keyring = await Keyring.open(database, cipher, settings.keys, clock)
        yield Resources(
            settings=settings,
            database=database,
            cache=cache,
            locks=open_locks(settings.redis, database, cache),
            keyring=keyring,
            jobs=jobs,
            http=http,
            metrics=registry,
            clock=clock,
        )


def readiness_checks(runtime: Runtime) -> Mapping[str, ReadinessCheck]:
    resources = runtime.resources

    async def database() -> str:
        await resources.database.ping()
        return "ok"

    async def cache() -> str:
        return await resources.cache.health()

    return {"database": database, "cache": cache}


def app_from_environment() -> FastAPI:
    """Factory for multi-worker servers: each worker rebuilds the Settings the CLI handed off."""
    return create_app(load_handoff())
