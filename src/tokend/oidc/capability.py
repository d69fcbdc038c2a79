"""Wiring of the OpenID provider: stores, token issuers, grants, pages, routes, demo data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter

from tokend.core.crypto import PasswordHasher
from tokend.jobs.base import JobSpec
from tokend.oidc.audit import Audit
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.demo import DemoData, seed_demo
from tokend.oidc.email_links import SEND_EMAIL_JOB, EmailLinks, LinkKind, Mailer
from tokend.oidc.grants import GrantDeps
from tokend.oidc.interactions import Interactions
from tokend.oidc.provider import Provider
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.revocations import PURGE_EVERY_S, PURGE_JOB, Revocations
from tokend.oidc.routes.account import account_router
from tokend.oidc.routes.admin import admin_router
from tokend.oidc.routes.authorize import authorize_router
from tokend.oidc.routes.demo_rp import demo_router
from tokend.oidc.routes.discovery import discovery_router
from tokend.oidc.routes.html import Pages, assets_router
from tokend.oidc.routes.interaction import interaction_router
from tokend.oidc.routes.logout import logout_router
from tokend.oidc.routes.resource import resource_router
from tokend.oidc.routes.token import token_router
from tokend.oidc.settings import OidcSettings
from tokend.oidc.sql import (
    SqlClients,
    SqlCodes,
    SqlConsents,
    SqlEmailLinks,
    SqlInteractions,
    SqlRefreshTokens,
    SqlRevocations,
    SqlSessions,
    SqlUsers,
)
from tokend.oidc.tokens import (
    AccessTokenReader,
    JwtAccessTokens,
    OpaqueAccessTokens,
    TokenIssuer,
)
from tokend.runtime import Capability, Late, Resources, Runtime

#: Deletes expired pending sign-ins and mail links (idempotent, like the revocations' purge).
PURGE_PENDING_JOB = "oidc.purge_pending"


def build(config: OidcSettings, runtime: Runtime) -> Capability:
    site = runtime.site
    issuer = site.issuer
    audit = Audit.register(runtime.metrics)
    pages = Pages()
    started: Late[Provider] = Late("the OpenID provider")
    demo = DemoData.generate(site.self_url) if site.demo else None
    mailer = Mailer(config.email, demo=site.demo)

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        hasher, cipher = resources.hasher, resources.cipher
        passwords = PasswordHasher()
        db, clock, keyring, cache = (
            resources.database, resources.clock, resources.keyring, resources.cache,
        )  # fmt: skip
        registry = SqlClients(db, clock)
        users = SqlUsers(db, clock)
        if demo is not None:
            await seed_demo(demo, registry, users, hasher, passwords)
        access_alg, id_alg = site.keys.access_token_alg, site.keys.id_token_alg
        revocations = Revocations(
            SqlRevocations(db), cache, clock, checked_ttl_s=config.introspection_cache_ttl_s
        )
        tokens = TokenIssuer(
            jwt=JwtAccessTokens(lambda: keyring.signing_key(access_alg), issuer, clock),
            opaque=OpaqueAccessTokens(db, hasher, clock),
            id_token_key=lambda: keyring.signing_key(id_alg),
            issuer=issuer,
            clock=clock,
        )
        clients = CachedClients(registry, cache, config.client_cache_ttl_s)
        consents = SqlConsents(db)
        limits = RateLimits.open(config.rate_limits, cache.redis_client, site.redis_key_prefix)
        if demo is not None:
            for client_id in demo.clients():  # fresh secrets: drop what Redis may still hold
                await clients.forget(client_id)
        started.set(
            Provider(
                settings=config,
                issuer=issuer,
                clock=clock,
                keyring=keyring,
                cache=cache,
                hasher=hasher,
                passwords=passwords,
                clients=clients,
                client_registry=registry,
                users=users,
                consents=consents,
                sessions=SqlSessions(db),
                authenticator=ClientAuthenticator(clients, hasher),
                grant_deps=GrantDeps(
                    settings=config,
                    issuer=issuer,
                    clock=clock,
                    hasher=hasher,
                    cipher=cipher,
                    tokens=tokens,
                    codes=SqlCodes(db),
                    refresh=SqlRefreshTokens(db),
                    users=users,
                    consents=consents,
                    revocations=revocations,
                    audit=audit,
                ),
                tokens=tokens,
                reader=AccessTokenReader(
                    keys=keyring,
                    algorithms=frozenset({access_alg}),
                    issuer=issuer,
                    leeway_s=site.keys.leeway_s,
                    db=db,
                    hasher=hasher,
                    cache=cache,
                    revocations=revocations,
                    clock=clock,
                    cache_ttl_s=config.introspection_cache_ttl_s,
                ),
                revocations=revocations,
                audit=audit,
                limits=limits,
                access_token_alg=access_alg,
                id_token_alg=id_alg,
                email_links=EmailLinks(SqlEmailLinks(db), hasher, clock, issuer, config.email),
                interactions=Interactions(SqlInteractions(db), clock, config.interaction_ttl_s),
                jobs=resources.jobs,
            )
        )
        try:
            yield
        finally:
            started.set(None)

    async def send_email(kind: str, user_id: str) -> None:
        # Runs embedded or in ``tokend worker``: both entered the lifespan above.
        provider = started.get()
        user = await provider.users.by_id(user_id)
        if user is None or user.disabled:
            return
        await mailer.send(await provider.email_links.make(LinkKind(kind), user))

    async def purge_revocations() -> None:
        await started.get().revocations.purge()

    async def purge_pending() -> None:
        provider = started.get()
        await provider.interactions.purge()
        await provider.email_links.purge()

    router = APIRouter()
    router.include_router(discovery_router(issuer, config, site.keys.id_token_alg))
    router.include_router(token_router(started.get))
    router.include_router(authorize_router(started.get, pages))
    router.include_router(interaction_router(started.get, pages))
    router.include_router(resource_router(started.get))
    router.include_router(logout_router(started.get, pages))
    router.include_router(admin_router(started.get, site.admin_token))
    router.include_router(account_router(started.get, pages))
    router.include_router(assets_router(pages))
    if demo is not None:
        router.include_router(demo_router(started.get, pages, demo.base_url))
    banner = demo.banner() if demo is not None else ()
    return Capability(
        name="oidc",
        router=router,
        lifespan=lifespan,
        banner=banner,
        jobs=(
            JobSpec(SEND_EMAIL_JOB, send_email, timeout_s=60.0),
            # Idempotent: a replica or worker running it twice deletes nothing more.
            JobSpec(PURGE_JOB, purge_revocations, every_s=PURGE_EVERY_S, max_retries=0),
            JobSpec(PURGE_PENDING_JOB, purge_pending, every_s=PURGE_EVERY_S, max_retries=0),
        ),
    )
