"""Wiring of the operator console: built by ``create_app`` after the capabilities, from the
services their admin APIs run on (``Capability.operations``); the pages of a capability the
process does not serve are not mounted. The console needs the OpenID provider in the same
process (it signs in through it), so without it there is no console.

Its lifespan (entered after the provider's) keeps the built-in ``tokend-console`` client as
this server needs it and, in demo mode, an administrator whose credentials the banner prints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Final, TypeVar

import anyio
import structlog
from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import Response

from tokend.console.audit import ConsoleAudit
from tokend.console.pages.audit import audit_router
from tokend.console.pages.clients import clients_router
from tokend.console.pages.keys import keys_router
from tokend.console.pages.overview import breaker_states, overview_router
from tokend.console.pages.users import users_router
from tokend.console.session import Cookies
from tokend.console.settings import ConsoleSettings
from tokend.console.signin import SignInServices, console_client, signin_router
from tokend.console.web import Console, Templates, field_errors
from tokend.core.crypto import FieldCipher, random_secret
from tokend.core.errors import Conflict
from tokend.core.jwt import verify
from tokend.core.routing import api_router, merge
from tokend.oidc.accounts import Accounts
from tokend.oidc.admin_scope import CONSOLE_CLIENT_ID, AdminScopeRule
from tokend.oidc.records import Client
from tokend.oidc.registry import Registry
from tokend.oidc.routes.token import TokenServices
from tokend.oidc.schemas import UserCreate, UserUpdate
from tokend.runtime import Capability, Operations, Resources, Runtime
from tokend.store.audit import SqlAuditEvents

log = structlog.get_logger("tokend.console")

DEMO_ADMIN_EMAIL: Final = "admin@tokend.dev"
T = TypeVar("T")


def build(
    block: ConsoleSettings, runtime: Runtime, capabilities: Sequence[Capability]
) -> Capability | None:
    """The console, or None when it is disabled or the provider is not served here."""
    operations = [c.operations for c in capabilities]
    registry = _find(operations, Registry)
    tokens = _find(operations, TokenServices)
    if not block.enabled or registry is None or tokens is None:
        return None
    site = runtime.site
    try:
        client = console_client(site.issuer, site.self_url).to_client(CONSOLE_CLIENT_ID, None)
    except ValidationError as exc:
        # RFC 8252 §7.3 / RFC 9700 §4.1.3: http redirects only to loopback; a plain-http issuer
        # elsewhere cannot sign in to its own console.
        log.warning("console.unavailable", reason=field_errors(exc).get("redirect_uris", ""))
        return None
    templates = Templates()
    audit = ConsoleAudit(runtime.metrics)
    cipher = FieldCipher.from_secrets(site.secrets.current, list(site.secrets.previous))
    cookies = Cookies(
        cipher, secure=site.issuer.startswith("https://"), session_ttl_s=block.session_ttl_s
    )

    def verify_id_token(token: str) -> Mapping[str, object]:
        return verify(
            token,
            runtime.resources.keyring,
            algorithms=frozenset({site.keys.id_token_alg}),
            issuer=site.issuer,
            audience=CONSOLE_CLIENT_ID,
            typ=None,
            leeway_s=site.keys.leeway_s,
            clock=runtime.clock,
        ).payload

    admin_scope = _find(operations, AdminScopeRule)
    services = SignInServices(
        registry, tokens, block.admin_role, verify_id_token,
        admin_scope() if admin_scope is not None else None,
    )  # fmt: skip
    nav = [
        ("/console", "Overview"), ("/console/clients", "Clients"), ("/console/users", "Users"),
        ("/console/keys", "Signing keys"),
    ]  # fmt: skip
    step_up = block.step_up if block.step_up is not None else site.is_production
    console = Console(templates, cookies, audit, runtime.clock, services.is_admin, nav, step_up)
    router = api_router(include_in_schema=False)
    merge(router, _assets_router(templates))
    merge(router, signin_router(console, services, site.issuer))
    health = [c.health for c in capabilities if c.health is not None]
    _include_pages(router, console, runtime, operations, block, nav, health)
    demo_password = random_secret(9) if site.demo else None

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        await _keep_console_client(registry(), client)
        if demo_password is not None:
            await _keep_demo_admin(registry(), demo_password, block.admin_role)
        audit.attach(SqlAuditEvents(resources.database))
        async with anyio.create_task_group() as background:
            background.start_soon(audit.writing)
            try:
                with audit.capturing(runtime.clock.now, block.audit_skip):
                    yield
            finally:
                background.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await audit.flush()  # what the last requests recorded
                audit.attach(None)

    banner: tuple[str, ...] = (f"console         {site.self_url}/console",)
    if demo_password is not None:
        banner += (f"console admin   {DEMO_ADMIN_EMAIL} / {demo_password}",)
    return Capability(name="console", router=router, lifespan=lifespan, banner=banner)


def _find(operations: Sequence[Operations], kind: type[T]) -> Callable[[], T] | None:
    for ops in operations:
        found = ops.find(kind)
        if found is not None:
            return found
    return None


def _include_pages(
    router: APIRouter,
    console: Console,
    runtime: Runtime,
    operations: Sequence[Operations],
    block: ConsoleSettings,
    nav: list[tuple[str, str]],
    health: Sequence[Callable[[], Mapping[str, object]]],
) -> None:
    registry = _find(operations, Registry)
    assert registry is not None  # build checked it
    site = runtime.site

    async def checks() -> dict[str, str]:
        resources = runtime.resources
        found: dict[str, str] = {}
        try:
            await resources.database.ping()
            found["database"] = "ok"
        except Exception as exc:
            found["database"] = f"failing ({type(exc).__name__})"
        found["cache"] = await resources.cache.health()
        found["jobs"] = type(resources.jobs).__name__
        return found

    merge(router, overview_router(console, site.modules, checks, runtime.metrics, health))
    merge(router, clients_router(console, registry))
    merge(router, users_router(console, registry, block.admin_role, _find(operations, Accounts)))
    merge(router, keys_router(console, lambda: runtime.resources.keyring))
    # A capability's pages (and its modules) are imported only when the process serves it.
    if "broker" in site.modules:
        from tokend.broker.directory.live import LiveDirectory
        from tokend.console.pages.directory import directory_router

        directory = _find(operations, LiveDirectory)
        if directory is not None:
            breakers = partial(breaker_states, runtime.metrics)
            merge(router, directory_router(console, directory, breakers))
            nav.append(("/console/directory", "Telco directory"))
    if "gateway" in site.modules:
        from tokend.console.pages.gateway import consumers_router
        from tokend.gateway.consumers import Consumers
        from tokend.gateway.source_status import SourceHealth

        consumers = _find(operations, Consumers)
        source = _find(operations, SourceHealth)
        if consumers is not None or source is not None:
            token_url = f"{site.self_url}/gateway/tokens"
            merge(router, consumers_router(console, consumers, token_url, source))
            nav.append(("/console/gateway", "Gateway consumers"))
    if "vault" in site.modules:
        from tokend.console.pages.vault import vault_router
        from tokend.vault.capability import Vault
        from tokend.vault.providers import Catalog

        vault = _find(operations, Vault)
        if vault is not None:
            merge(router, vault_router(console, vault, _find(operations, Catalog)))
            nav.append(("/console/vault", "Vault"))
    if "guard" in site.modules:
        from tokend.console.pages.guard import guard_router
        from tokend.guard.validator import JWTValidator

        validator = _find(operations, JWTValidator)
        if validator is not None:
            merge(router, guard_router(console, validator))
            nav.append(("/console/guard", "Guard issuers"))
    merge(router, audit_router(console))
    nav.append(("/console/audit", "Audit log"))


def _assets_router(templates: Templates) -> APIRouter:
    router = api_router(include_in_schema=False)
    types = {"console.css": "text/css", "console.js": "text/javascript"}

    @router.get("/console/assets/{name}")
    async def asset(name: str) -> Response:
        body = templates.assets.get(name)
        if body is None:
            return Response(status_code=404)
        return Response(
            body, media_type=types[name], headers={"Cache-Control": "public, max-age=3600"}
        )

    return router


async def _keep_console_client(registry: Registry, client: Client) -> None:
    """Create the built-in client, or put back its settings (this server's callback). Several
    workers or replicas start at once: the one that loses the race to create it replaces it."""
    try:
        if await registry.clients.get(CONSOLE_CLIENT_ID) is None:
            await registry.clients.add(client)
            await registry.cached.forget(CONSOLE_CLIENT_ID)
            return
    except Conflict:
        pass  # another worker created it in between
    await registry.clients.replace(client)
    await registry.cached.forget(CONSOLE_CLIENT_ID)


async def _keep_demo_admin(registry: Registry, password: str, role: str) -> None:
    """The demo's administrator, with the password the banner prints."""
    existing = await registry.users.by_email(DEMO_ADMIN_EMAIL)
    if existing is None:
        try:
            await registry.add_user(
                UserCreate(
                    email=DEMO_ADMIN_EMAIL, password=password, email_verified=True,
                    name="Demo administrator", roles=[role],
                )
            )  # fmt: skip
            return
        except Conflict:  # another worker created it in between: set this one's password
            existing = await registry.users.by_email(DEMO_ADMIN_EMAIL)
            if existing is None:
                raise
    roles = list(dict.fromkeys([*existing.roles, role]))
    await registry.update_user(
        existing.id, UserUpdate(password=password, roles=roles, disabled=False)
    )
