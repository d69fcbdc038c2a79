"""Wiring of the OpenID provider: the one module that picks the stores' implementations
(:mod:`tokend.oidc.sql`), builds the services on the process's resources and hands each route
family and job only the services it calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from tokend.core.clock import Clock
from tokend.core.discovery import Discovery
from tokend.core.dpop import DpopNonces
from tokend.core.routing import api_router, merge
from tokend.jobs.base import Jobs, JobSpec
from tokend.oidc.accounts import Accounts
from tokend.oidc.admin_scope import AdminScopeRule
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.authorization_flow import AuthorizationFlow
from tokend.oidc.backchannel_authentication import AuthenticationDevice, BackchannelAuthentication
from tokend.oidc.backchannel_decisions import PING_JOB, BackchannelDecisions
from tokend.oidc.backchannel_devices import DEVICE_WEBHOOK_JOB, DeviceWebhook
from tokend.oidc.backchannel_logout import BACKCHANNEL_LOGOUT_JOB, BackchannelLogout
from tokend.oidc.browser_sessions import BrowserSessions
from tokend.oidc.client_auth import ClientAssertions, ClientAuthenticator
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.client_keys import ClientKeys
from tokend.oidc.cors import RegisteredOrigins
from tokend.oidc.demo import DemoData, seed_demo
from tokend.oidc.device_authorization import DeviceAuthorizations
from tokend.oidc.dpop_checks import DpopChecks
from tokend.oidc.dynamic_registration import DynamicRegistration, SoftwareStatements
from tokend.oidc.email_change import EMAIL_CHANGE_JOB, EmailChanges
from tokend.oidc.email_links import (
    SECURITY_NOTICE_JOB,
    SEND_EMAIL_JOB,
    EmailLinks,
    LinkKind,
    Mailer,
)
from tokend.oidc.end_session import EndSession
from tokend.oidc.exchange_tokens import SubjectTokens, trusted_issuers
from tokend.oidc.grants import GrantDeps
from tokend.oidc.id_token_hints import IdTokenHints
from tokend.oidc.interactions import Interactions
from tokend.oidc.introspection import Introspection, IntrospectionSigner
from tokend.oidc.known_devices import KnownDevices
from tokend.oidc.passkeys import Passkeys, relying_party
from tokend.oidc.pushed_requests import PushedRequests
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.registry import Registry
from tokend.oidc.request_objects import RequestObjects
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.routes.account import account_router
from tokend.oidc.routes.account_admin import account_admin_router
from tokend.oidc.routes.account_console import account_console_router
from tokend.oidc.routes.admin import admin_router
from tokend.oidc.routes.authorize import Outcomes, authorize_router
from tokend.oidc.routes.backchannel import (
    BackchannelServices,
    approval_page_router,
    backchannel_router,
)
from tokend.oidc.routes.demo_rp import DemoServices, demo_router
from tokend.oidc.routes.device import (
    DeviceServices,
    device_authorization_router,
    device_page_router,
)
from tokend.oidc.routes.discovery import discovery_router, endpoint_urls
from tokend.oidc.routes.html import Pages, assets_router
from tokend.oidc.routes.interaction import interaction_router
from tokend.oidc.routes.logout import logout_router
from tokend.oidc.routes.par import par_router
from tokend.oidc.routes.registration import RegistrationServices, registration_router
from tokend.oidc.routes.resource import ResourceServices, resource_router
from tokend.oidc.routes.token import TokenServices, token_router
from tokend.oidc.routes.upstream import upstream_router
from tokend.oidc.routes.upstream_admin import upstream_admin_router
from tokend.oidc.second_factor import APP_LABEL, SecondFactors
from tokend.oidc.self_service import SelfService
from tokend.oidc.settings import OidcSettings, UpstreamSettings, password_hasher
from tokend.oidc.sign_in import SignIn
from tokend.oidc.sign_up import SIGN_UP_NOTICE_JOB, SignUp
from tokend.oidc.sql import (
    SqlBackchannelRequests,
    SqlClients,
    SqlCodes,
    SqlConsents,
    SqlDeviceCodes,
    SqlEmailLinks,
    SqlFactors,
    SqlGrantClaims,
    SqlInitialAccessTokens,
    SqlInteractions,
    SqlKnownDevices,
    SqlLogoutSessions,
    SqlOpaqueTokens,
    SqlPasskeys,
    SqlRefreshTokens,
    SqlRegistrationTokens,
    SqlSessions,
    SqlUpstreamLinks,
    SqlUpstreams,
    SqlUsers,
)
from tokend.oidc.stores import GrantClaimsStore, OpaqueTokenStore
from tokend.oidc.subjects import Subjects
from tokend.oidc.token_revocation import TokenRevocation
from tokend.oidc.tokens import (
    AccessTokenReader,
    JwtAccessTokens,
    OpaqueAccessTokens,
    TokenIssuer,
)
from tokend.oidc.upstreams.brokering import Brokering
from tokend.oidc.upstreams.catalog import (
    MAX_STORED,
    AdapterFactory,
    UpstreamCatalog,
    upstream_refusal,
)
from tokend.oidc.upstreams.github_kind import GithubUpstream
from tokend.oidc.upstreams.identity import Upstream
from tokend.oidc.upstreams.oidc_kind import OidcUpstream
from tokend.oidc.upstreams.states import UpstreamStates
from tokend.oidc.userinfo import UserInfo
from tokend.runtime import Capability, Late, Operations, Resources, Runtime
from tokend.site import Site

#: Deletes expired pending sign-ins and mail links (idempotent: replicas may run it at once).
PURGE_PENDING_JOB = "oidc.purge_pending"
PURGE_PENDING_EVERY_S = 3600.0
#: Every Late says the same while the app starts or stops.
STARTING = "the OpenID provider"


@dataclass(frozen=True, slots=True)
class _Pending:
    """Pending sign-ins, mail links, device codes and CIBA requests: what
    ``PURGE_PENDING_JOB`` deletes from."""

    interactions: Interactions
    email_links: EmailLinks
    devices: DeviceAuthorizations
    backchannel: BackchannelDecisions
    #: The UserInfo claims of grants whose tokens all expired (OIDC Core §5.5).
    grant_claims: GrantClaimsStore
    clock: Clock


@dataclass(frozen=True, slots=True)
class _CibaJobs:
    """What CIBA's jobs call: the ping (§10.2) and the device webhook, when one is set."""

    decisions: BackchannelDecisions
    webhook: DeviceWebhook | None


class _Clearable(Protocol):
    def set(self, value: None) -> None: ...


@dataclass(frozen=True, slots=True)
class _Lates:
    """What the routes and jobs reach once the lifespan has built it; 503 until then."""

    token: Late[TokenServices] = field(default_factory=lambda: Late(STARTING))
    resource: Late[ResourceServices] = field(default_factory=lambda: Late(STARTING))
    flow: Late[AuthorizationFlow] = field(default_factory=lambda: Late(STARTING))
    sign_in: Late[SignIn] = field(default_factory=lambda: Late(STARTING))
    end_session: Late[EndSession] = field(default_factory=lambda: Late(STARTING))
    registry: Late[Registry] = field(default_factory=lambda: Late(STARTING))
    self_service: Late[SelfService] = field(default_factory=lambda: Late(STARTING))
    pending: Late[_Pending] = field(default_factory=lambda: Late(STARTING))
    demo_rp: Late[DemoServices] = field(default_factory=lambda: Late(STARTING))
    accounts: Late[Accounts] = field(default_factory=lambda: Late(STARTING))
    sign_up: Late[SignUp] = field(default_factory=lambda: Late(STARTING))
    registration: Late[RegistrationServices] = field(default_factory=lambda: Late(STARTING))
    device: Late[DeviceServices] = field(default_factory=lambda: Late(STARTING))
    backchannel: Late[BackchannelLogout] = field(default_factory=lambda: Late(STARTING))
    #: The process's job queue (``Resources.jobs``), for the mails ``Audit`` asks for.
    jobs: Late[Jobs] = field(default_factory=lambda: Late(STARTING))
    ciba: Late[BackchannelServices] = field(default_factory=lambda: Late(STARTING))
    ciba_jobs: Late[_CibaJobs] = field(default_factory=lambda: Late(STARTING))
    brokering: Late[Brokering] = field(default_factory=lambda: Late(STARTING))

    def clear(self) -> None:
        every: tuple[_Clearable, ...] = (
            self.token, self.resource, self.flow, self.sign_in, self.end_session,
            self.registry, self.self_service, self.pending, self.demo_rp, self.accounts,
            self.registration, self.device, self.backchannel, self.jobs, self.ciba,
            self.ciba_jobs, self.sign_up, self.brokering,
        )  # fmt: skip
        for late in every:
            late.set(None)


def build(config: OidcSettings, runtime: Runtime) -> Capability:
    site = runtime.site
    issuer = site.issuer
    pages = Pages()
    lates = _Lates()
    mailer = Mailer(config.email, demo=site.demo)
    admin_scope = AdminScopeRule(config.admin_scope_role)

    async def tell_user(event: AuditEvent, user_id: str, detail: str) -> None:
        # Only the event, the user id and the factor's kind are queued (job arguments are
        # stored in clear); the job writes the mail.
        jobs = lates.jobs.get()
        await jobs.enqueue(SECURITY_NOTICE_JOB, event=event.value, user_id=user_id, detail=detail)

    told = config.email.security_notices and mailer.backend != "disabled"
    audit = Audit.register(runtime.metrics, tell_user=tell_user if told else None)
    outcomes = Outcomes(
        pages,
        issuer,
        config,
        jarm=lambda client_id, params: lates.flow.get().sign_response(client_id, params),
    )
    demo = DemoData.generate(site.self_url) if site.demo else None

    @asynccontextmanager
    async def lifespan(resources: Resources) -> AsyncIterator[None]:
        try:
            await _open(lates, config, site, resources, audit, demo)
            yield
        finally:
            lates.clear()

    async def send_email(kind: str, user_id: str) -> None:
        # Runs embedded or in ``tokend worker``: both entered the lifespan above.
        mail = await lates.self_service.get().mail(LinkKind(kind), user_id)
        if mail is not None:
            await mailer.send(mail)

    async def security_notice(event: str, user_id: str, detail: str) -> None:
        mail = await lates.self_service.get().notice(event, user_id, detail)
        if mail is not None:
            await mailer.send(mail)

    async def email_change(user_id: str, ref: str) -> None:
        mail = await lates.accounts.get().email_changes.mail(user_id, ref)
        if mail is not None:
            await mailer.send(mail)

    async def sign_up_notice(user_id: str) -> None:
        mail = await lates.sign_up.get().notice(user_id)
        if mail is not None:
            await mailer.send(mail)

    async def backchannel_logout(client_id: str, user_id: str, sid: str) -> None:
        await lates.backchannel.get().deliver(client_id, user_id, sid)

    async def purge_pending() -> None:
        pending = lates.pending.get()
        await pending.interactions.purge()
        await pending.email_links.purge()
        await pending.devices.purge()
        await pending.backchannel.purge()
        await pending.grant_claims.purge(pending.clock.now())

    async def ciba_ping(request_id: str) -> None:
        await lates.ciba_jobs.get().decisions.ping(request_id)

    async def ciba_device_webhook(request_id: str) -> None:
        webhook = lates.ciba_jobs.get().webhook
        if webhook is not None:
            await webhook.deliver(request_id)

    router = api_router()
    merge(router, discovery_router(issuer, config, site.keys.id_token_alg))
    merge(router, token_router(lates.token.get))
    merge(router, par_router(lates.token.get, lates.flow.get))
    merge(router, authorize_router(lates.flow.get, outcomes, config))
    # Self sign-up: on when set, else only in demo mode; off, no route and no link.
    sign_up = config.accounts.self_sign_up
    if sign_up is None:
        sign_up = site.demo
    merge(
        router,
        interaction_router(
            lates.flow.get, lates.sign_in.get, outcomes, config, lates.brokering.get,
            sign_up=sign_up,
        ),
    )  # fmt: skip
    merge(
        router,
        upstream_router(
            lates.brokering.get, lates.flow.get, lates.sign_in.get, lates.accounts.get,
            outcomes, config,
        ),
    )  # fmt: skip
    merge(router, resource_router(lates.resource.get, issuer))
    merge(router, device_authorization_router(lates.device.get))
    merge(router, device_page_router(lates.device.get, lates.flow.get, outcomes))
    merge(router, backchannel_router(lates.ciba.get))
    approval_page = config.ciba.approval_page
    if approval_page or (approval_page is None and site.demo):
        merge(router, approval_page_router(lates.ciba.get, pages))
    merge(
        router, logout_router(lates.end_session.get, pages, outcomes.secure, config.session_ttl_s)
    )
    admin = runtime.admin_policy()
    merge(router, admin_router(lates.registry.get, admin))
    merge(router, account_admin_router(lates.accounts.get, admin))
    merge(router, upstream_admin_router(lates.brokering.get, admin))
    merge(
        router,
        account_router(
            lates.self_service.get,
            pages,
            outcomes.secure,
            sign_up=lates.sign_up.get if sign_up else None,
        ),
    )
    merge(router, account_console_router(lates.accounts.get, pages, config, outcomes.secure))
    merge(router, assets_router(pages))
    if config.registration.enabled:
        merge(router, registration_router(lates.registration.get))
    if demo is not None:
        merge(router, demo_router(lates.demo_rp.get, pages, demo.base_url))
    banner = demo.banner() if demo is not None else ()
    return Capability(
        name="oidc",
        router=router,
        lifespan=lifespan,
        banner=banner,
        # The console: clients and users (their sessions, apps and second factors) as the admin
        # API manages them; codes redeemed in process, as the demo relying party does.
        operations=Operations(
            (Registry, lates.registry.get),
            (TokenServices, lates.token.get),
            (Accounts, lates.accounts.get),
            # The console admits whom the provider would grant tokend:admin (oidc.admin_scope).
            (AdminScopeRule, lambda: admin_scope),
        ),
        jobs=(
            JobSpec(SEND_EMAIL_JOB, send_email, timeout_s=60.0),
            JobSpec(SECURITY_NOTICE_JOB, security_notice, timeout_s=60.0),
            JobSpec(EMAIL_CHANGE_JOB, email_change, timeout_s=60.0),
            JobSpec(SIGN_UP_NOTICE_JOB, sign_up_notice, timeout_s=60.0),
            # Retried until the client answers 200 (OpenID Back-Channel Logout §2.8).
            JobSpec(BACKCHANNEL_LOGOUT_JOB, backchannel_logout, timeout_s=30.0, max_retries=5),
            # CIBA Core §10.2 pings and the device webhook: retried until answered 2xx.
            JobSpec(PING_JOB, ciba_ping, timeout_s=30.0, max_retries=5),
            JobSpec(DEVICE_WEBHOOK_JOB, ciba_device_webhook, timeout_s=30.0, max_retries=5),
            # Idempotent: a replica or worker running it twice deletes nothing more.
            JobSpec(PURGE_PENDING_JOB, purge_pending, every_s=PURGE_PENDING_EVERY_S, max_retries=0),
        ),
    )


async def _open(
    lates: _Lates,
    config: OidcSettings,
    site: Site,
    resources: Resources,
    audit: Audit,
    demo: DemoData | None,
) -> None:
    """Build the provider on the SQL stores and the process's resources; fill ``lates``."""
    db, clock, cache = resources.database, resources.clock, resources.cache
    lates.jobs.set(resources.jobs)
    hasher = resources.hasher
    passwords = password_hasher(config.accounts)
    registered, users = SqlClients(db, clock), SqlUsers(db, clock)
    refresh, consents, opaque = SqlRefreshTokens(db), SqlConsents(db), SqlOpaqueTokens(db)
    if demo is not None:
        await seed_demo(demo, registered, users, hasher, passwords)
    clients = CachedClients(registered, cache, config.client_cache_ttl_s)
    if demo is not None:
        for client_id in demo.clients():  # fresh secrets: drop what Redis may still hold
            await clients.forget(client_id)
    # The deny-list every surface of the process reads (core.revocations); the provider writes.
    revocations = resources.revocations
    grants = GrantRevoker(refresh, revocations, clock)
    device_codes = SqlDeviceCodes(db)
    ciba_requests = SqlBackchannelRequests(db)
    backchannel = BackchannelLogout(
        sessions=SqlLogoutSessions(db),
        clients=clients,
        jobs=resources.jobs,
        signing_key=lambda: resources.keyring.signing_key(site.keys.id_token_alg),
        issuer=site.issuer,
        clock=clock,
        http=resources.http,
    )
    lates.backchannel.set(backchannel)
    reader = AccessTokenReader(
        keys=resources.keyring,
        algorithms=frozenset({site.keys.access_token_alg}),
        issuer=site.issuer,
        leeway_s=site.keys.leeway_s,
        opaque=opaque,
        hasher=hasher,
        cache=cache,
        revocations=revocations,
        clock=clock,
        cache_ttl_s=config.introspection_cache_ttl_s,
    )
    salt = config.pairwise_salt
    subjects = Subjects(salt.get_secret_value().encode() if salt is not None else None)
    client_keys = ClientKeys(
        http=resources.http,
        clock=clock,
        ttl_s=config.client_jwks_cache_ttl_s,
        refetch_interval_s=config.client_jwks_refetch_interval_s,
        timeout_s=config.client_jwks_timeout_s,
        max_entries=config.client_jwks_cache_entries,
    )
    grant_claims = SqlGrantClaims(db)
    grant_deps = GrantDeps(
        settings=config,
        issuer=site.issuer,
        clock=clock,
        hasher=hasher,
        cipher=resources.cipher,
        tokens=_token_issuer(site, resources, opaque),
        codes=SqlCodes(db),
        refresh=refresh,
        users=users,
        consents=consents,
        grants=grants,
        audit=audit,
        devices=device_codes,
        logout=backchannel,
        backchannel=ciba_requests,
        grant_claims=grant_claims,
        exchange=SubjectTokens(
            access_tokens=reader,
            keys=resources.keyring,
            id_token_algorithms=frozenset({site.keys.id_token_alg}),
            issuer=site.issuer,
            leeway_s=site.keys.leeway_s,
            clock=clock,
            external=trusted_issuers(config.token_exchange.trusted_issuers, site.issuer),
            issuer_keys=client_keys,
        ),
        subjects=subjects,
    )
    assertions = ClientAssertions(
        keys=client_keys,
        cache=cache,
        cipher=resources.cipher,
        clock=clock,
        audiences=frozenset({site.issuer, *endpoint_urls(site.issuer)}),
        max_lifetime_s=config.client_assertion_max_lifetime_s,
        leeway_s=site.keys.leeway_s,
    )
    authenticator = ClientAuthenticator(clients, hasher, assertions, fapi2=config.fapi2)
    request_objects = RequestObjects(
        client_keys, cache, clock, site.issuer, site.keys.leeway_s, fapi2=config.fapi2
    )
    limits = RateLimits.open(config.rate_limits, cache.redis_client, site.redis_key_prefix)
    sessions = BrowserSessions(SqlSessions(db), hasher, clock, config.session_ttl_s)
    interactions = Interactions(SqlInteractions(db), clock, config.interaction_ttl_s)
    email_links = EmailLinks(SqlEmailLinks(db), hasher, clock, site.issuer, config.email)
    dpop = DpopChecks(
        cache=cache,
        clock=clock,
        issuer=site.issuer,
        nonces=(
            DpopNonces(hasher.hash("dpop-nonces").encode(), clock)
            if config.dpop_require_nonce
            else None
        ),
        max_age_s=config.dpop_proof_max_age_s,
        leeway_s=site.keys.leeway_s,
    )
    lates.token.set(TokenServices(authenticator, limits, grant_deps, dpop, fapi2=config.fapi2))
    lates.resource.set(
        ResourceServices(
            clients=authenticator,
            userinfo=UserInfo(reader, users, clients, subjects, grant_claims, clock),
            introspection=Introspection(
                reader,
                refresh,
                hasher,
                clock,
                users,
                clients,
                IntrospectionSigner(
                    lambda: resources.keyring.signing_key(site.keys.id_token_alg),
                    site.issuer,
                    clock,
                ),
            ),
            revocation=TokenRevocation(reader, refresh, hasher, grants, revocations, audit),
            dpop=dpop,
            origins=RegisteredOrigins(registered.all, config.client_cache_ttl_s),
        )
    )
    lates.flow.set(
        AuthorizationFlow(
            clients=clients,
            users=users,
            consents=consents,
            codes=grant_deps.codes,
            sessions=sessions,
            interactions=interactions,
            limits=limits,
            hasher=hasher,
            audit=audit,
            clock=clock,
            code_ttl_s=config.code_ttl_s,
            hints=IdTokenHints(
                resources.keyring, site.keys.id_token_alg, site.issuer, resources.clock
            ),
            pushed=PushedRequests(cache, config, request_objects),
            request_objects=request_objects,
            response_key=lambda: resources.keyring.signing_key(site.keys.id_token_alg),
            subjects=subjects,
            fapi2=config.fapi2,
            devices=device_codes,
            grant_claims=grant_claims,
        )
    )
    factors = SecondFactors(
        SqlFactors(db), resources.cipher, hasher, limits, audit, clock,
        issuer_label=urlsplit(site.issuer).hostname or APP_LABEL,
    )  # fmt: skip
    rp_id, origin = relying_party(site.issuer)
    passkeys = Passkeys(SqlPasskeys(db), rp_id, origin, rp_id, audit, clock)
    lates.sign_in.set(
        SignIn(
            users,
            passwords,
            sessions,
            interactions,
            limits,
            hasher,
            audit,
            clock,
            factors,
            passkeys,
            KnownDevices(SqlKnownDevices(db), hasher, audit, config.accounts.known_devices_max),
        )
    )
    lates.end_session.set(
        EndSession(
            keys=resources.keyring,
            id_token_alg=site.keys.id_token_alg,
            issuer=site.issuer,
            clients=clients,
            users=users,
            sessions=sessions,
            hasher=hasher,
            audit=audit,
            clock=clock,
            backchannel=backchannel,
        )
    )
    lates.registry.set(
        Registry(
            registered,
            clients,
            users,
            hasher,
            passwords,
            grants,
            audit,
            cipher=resources.cipher,
            http=resources.http,
            pairwise_salt_set=subjects.pairwise_supported,
            backchannel=backchannel,
            id_token_alg=site.keys.id_token_alg,
        )
    )
    lates.self_service.set(
        SelfService(
            users, passwords, email_links, limits, resources.jobs, grants, audit, backchannel
        )
    )
    devices = DeviceAuthorizations(device_codes, hasher, limits, clock, config.device, site.issuer)
    lates.device.set(DeviceServices(authenticator, limits, devices))
    ciba = config.ciba
    webhook = None
    if ciba.device_webhook_url is not None and ciba.device_webhook_secret is not None:
        webhook = DeviceWebhook(
            url=ciba.device_webhook_url,
            secret=ciba.device_webhook_secret,
            store=ciba_requests,
            clients=clients,
            hasher=hasher,
            jobs=resources.jobs,
            clock=clock,
            http=resources.http,
            issuer=site.issuer,
            timeout_s=ciba.delivery_timeout_s,
        )
    ciba_devices: tuple[AuthenticationDevice, ...] = (webhook,) if webhook is not None else ()
    decisions = BackchannelDecisions(
        store=ciba_requests,
        clients=clients,
        hasher=hasher,
        cipher=resources.cipher,
        jobs=resources.jobs,
        clock=clock,
        http=resources.http,
        delivery_timeout_s=ciba.delivery_timeout_s,
    )
    lates.ciba_jobs.set(_CibaJobs(decisions, webhook))
    lates.pending.set(_Pending(interactions, email_links, devices, decisions, grant_claims, clock))
    lates.accounts.set(
        Accounts(
            users=users,
            passwords=passwords,
            sessions=sessions,
            consents=consents,
            clients=clients,
            grants=grants,
            factors=factors,
            interactions=interactions,
            passkeys=passkeys,
            limits=limits,
            hasher=hasher,
            audit=audit,
            clock=clock,
            email_changes=EmailChanges(
                users=users,
                passwords=passwords,
                links=email_links,
                pending=interactions.store,
                limits=limits,
                jobs=resources.jobs,
                audit=audit,
                clock=clock,
            ),
            backchannel=backchannel,
        )
    )
    lates.sign_up.set(SignUp(users, passwords, limits, resources.jobs, audit, site.issuer))
    lates.ciba.set(
        BackchannelServices(
            clients=authenticator,
            limits=limits,
            authentication=BackchannelAuthentication(
                store=ciba_requests,
                users=users,
                phones=users,
                hints=IdTokenHints(
                    resources.keyring, site.keys.id_token_alg, site.issuer, resources.clock
                ),
                hasher=hasher,
                cipher=resources.cipher,
                clock=clock,
                settings=ciba,
                devices=ciba_devices,
                client_keys=client_keys,
                issuer=site.issuer,
                leeway_s=site.keys.leeway_s,
            ),
            decisions=decisions,
            accounts=lates.accounts.get(),
        )
    )
    lates.demo_rp.set(DemoServices(cache, clients, grant_deps))
    discovery = Discovery(
        lambda: resources.http,
        clock,
        max_age_s=config.upstream_metadata_ttl_s,
        timeout_s=config.upstream_timeout_s,
    )
    lates.brokering.set(
        Brokering(
            catalog=UpstreamCatalog(
                configured={u.id: u for u in config.upstreams},
                store=SqlUpstreams(db, resources.cipher),
                kinds=_upstream_kinds(config, site, resources, discovery),
                refusal=upstream_refusal(resources.http, discovery),
                audit=audit,
                clock=clock,
            ),
            states=UpstreamStates(cache, config.upstream_state_ttl_s),
            links=SqlUpstreamLinks(db),
            users=users,
            passkeys=SqlPasskeys(db),
            audit=audit,
            clock=clock,
            issuer=site.issuer,
            limits=limits,
        )
    )
    lates.registration.set(
        RegistrationServices(
            DynamicRegistration(
                policy=config.registration,
                clients=registered,
                cached=clients,
                tokens=SqlRegistrationTokens(db),
                initial_tokens=SqlInitialAccessTokens(db),
                hasher=hasher,
                limits=limits,
                clock=clock,
                audit=audit,
                statements=SoftwareStatements.of(config.registration.software_statement_jwks),
                grants=grants,
            ),
            site.issuer,
        )
    )


def _upstream_kinds(
    config: OidcSettings, site: Site, resources: Resources, discovery: Discovery
) -> dict[str, AdapterFactory]:
    """How each upstream kind is built on the process's guarded client (``upstreams``)."""
    http, clock, timeout_s = resources.http, resources.clock, config.upstream_timeout_s
    keys = ClientKeys(
        http=http,
        clock=clock,
        ttl_s=config.client_jwks_cache_ttl_s,
        refetch_interval_s=config.client_jwks_refetch_interval_s,
        timeout_s=timeout_s,
        max_entries=len(config.upstreams) + MAX_STORED,
    )

    def oidc(settings: UpstreamSettings) -> Upstream:
        return OidcUpstream(settings, http, discovery, keys, clock, site.keys.leeway_s, timeout_s)

    def github(settings: UpstreamSettings) -> Upstream:
        return GithubUpstream(settings, http, timeout_s)

    return {"oidc": oidc, "github": github}


def _token_issuer(site: Site, resources: Resources, opaque: OpaqueTokenStore) -> TokenIssuer:
    keyring, clock = resources.keyring, resources.clock
    access_alg, id_alg = site.keys.access_token_alg, site.keys.id_token_alg
    return TokenIssuer(
        jwt=JwtAccessTokens(lambda: keyring.signing_key(access_alg), site.issuer, clock),
        opaque=OpaqueAccessTokens(opaque, resources.hasher, clock),
        id_token_key=lambda: keyring.signing_key(id_alg),
        issuer=site.issuer,
        clock=clock,
    )
