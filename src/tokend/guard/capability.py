"""Wiring of the guard inside tokend: trusted issuers, validator, sessions, login, admin client."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter

from tokend.core.breaker import BreakerPolicy, CircuitBreaker, breaker_gauge
from tokend.core.dpop import DpopNonces
from tokend.core.http import GuardedClient
from tokend.core.jwt import VerificationKey
from tokend.core.routing import api_router, merge
from tokend.guard.admin_client import KeycloakAdminClient
from tokend.guard.dependencies import Guard
from tokend.guard.dpop import guard_nonces
from tokend.guard.introspection import TokenIntrospector
from tokend.guard.issuers import TrustedIssuer
from tokend.guard.login import OidcLogin
from tokend.guard.login_routes import login_router
from tokend.guard.routes import guard_router
from tokend.guard.sessions import SessionStore
from tokend.guard.settings import GuardSettings
from tokend.guard.validator import JWTValidator
from tokend.runtime import Capability, Operations, Resources, Runtime


class _KeyringKeys:
    """tokend's own keyring as a KeySource, once the lifespan has opened it."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def find(self, kid: str) -> VerificationKey | None:
        return self._runtime.resources.keyring.find(kid)


class _DenyList:
    """tokend's deny-list (``core.revocations``) as the own issuer's RevocationHook."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        return await self._runtime.resources.revocations.is_revoked(jti, grant_id)


def own_audiences(config: GuardSettings, runtime: Runtime) -> frozenset[str]:
    """The ``aud`` values tokend's own tokens must name here; empty only when the operator said
    any audience will do (``own_any_audience``)."""
    if config.own_any_audience:
        return frozenset()
    if config.own_audiences:
        return frozenset(config.own_audiences)
    site = runtime.site
    # RFC 9068 §4 / RFC 8707: a resource server takes only tokens issued for it. Without this,
    # a token any tokend client holds for any other API would open the guard too.
    audiences = {f"{site.issuer}{runtime.prefix}"}
    if site.demo:
        # The demo's clients have no audience of their own, so their tokens name the issuer.
        audiences.add(site.issuer)
    return frozenset(audiences)


def trusted_issuers(config: GuardSettings, runtime: Runtime) -> list[TrustedIssuer]:
    issuers: list[TrustedIssuer] = []
    if config.trust_own_issuer:
        issuers.append(
            TrustedIssuer(
                runtime.site.issuer,
                algorithms=frozenset({"ES256", "RS256", "EdDSA"}),
                audiences=own_audiences(config, runtime),
                # RFC 9068 §4: only access tokens, never ID tokens, open an API.
                typ="at+jwt",
                # Every access token tokend issues has a jti: one without cannot be revoked.
                required_claims=("exp", "iat", "sub", "jti"),
                keys=_KeyringKeys(runtime),
                # What the provider revoked (RFC 7009, code replay, refresh reuse) opens nothing.
                revocations=_DenyList(runtime),
            )
        )
    keycloak = config.keycloak_issuer
    if keycloak is not None:
        issuers.append(
            TrustedIssuer(
                keycloak,
                algorithms=frozenset(config.algorithms),
                audiences=frozenset(config.audiences),
                role_clients=(config.client_id,) if config.client_id else (),
            )
        )
    issuers.extend(
        TrustedIssuer(
            extra.issuer,
            algorithms=frozenset(extra.algorithms),
            audiences=frozenset(extra.audiences),
            required_claims=tuple(extra.required_claims),
            typ=extra.typ,
            role_clients=tuple(extra.role_clients),
            discovery_url=extra.discovery_url,
            jwks_uri=extra.jwks_uri,
            jwks=extra.jwks,
        )
        for extra in config.issuers
    )
    return issuers


def dpop_nonces(config: GuardSettings, runtime: Runtime) -> DpopNonces | None:
    """RFC 9449 §9 server nonces when ``dpop_require_nonce`` is on; their secret is the
    configured one or tokend's own, so every replica issues and accepts the same nonces."""
    if not config.dpop_require_nonce:
        return None
    secret = (
        config.dpop_nonce_secret.get_secret_value()
        if config.dpop_nonce_secret is not None
        else hashlib.sha256(runtime.site.secrets.current.encode()).digest()
    )
    return guard_nonces(secret, clock=runtime.clock, window_s=config.dpop_nonce_window_s)


def build(config: GuardSettings, runtime: Runtime) -> Capability:

    def http() -> GuardedClient:
        return runtime.resources.http

    validator = JWTValidator(
        trusted_issuers(config, runtime),
        http=http,
        clock=runtime.clock,
        leeway_s=config.leeway_s,
        jwks_ttl_s=config.jwks_cache_ttl_s,
        refetch_interval_s=config.jwks_refetch_interval_s,
    )
    validator.introspector = token_introspector(config, validator)
    secret = (
        config.session_secret_key.get_secret_value()
        if config.session_secret_key
        else runtime.site.secrets.current
    )
    sessions = SessionStore(
        lambda: runtime.resources.cache,
        secret,
        ttl_s=config.session_ttl_s,
        role_clients=(config.client_id,) if config.client_id else (),
    )
    guard = Guard(
        validator,
        realm=config.realm,
        sessions=sessions,
        cookie_name=config.session_cookie,
        dpop_nonces=dpop_nonces(config, runtime),
    )
    admin = admin_client(config, http, runtime)
    router = api_router()
    merge(
        router,
        guard_router(guard, config, admin, version=config.envelope_version, now=runtime.clock.now),
    )
    if runtime.alone:
        merge(router, service_root_router())
    banner: list[str] = [f"guard trusts: {', '.join(validator.issuers)}"]
    keycloak = config.keycloak_issuer
    if config.login_enabled and keycloak is not None and config.client_id is not None:
        oidc = OidcLogin(
            validator.issuers[keycloak],
            validator,
            client_id=config.client_id,
            client_secret=(
                config.client_secret.get_secret_value() if config.client_secret else None
            ),
            redirect_uri=config.redirect_uri or f"{runtime.site.issuer}{runtime.prefix}/callback",
            scope=config.login_scope,
            http=http,
        )
        merge(
            router,
            login_router(
                oidc, sessions, config, version=config.envelope_version, now=runtime.clock.now
            ),
        )
        banner.append(f"guard login via {keycloak}")

    @asynccontextmanager
    async def lifespan(_resources: Resources) -> AsyncIterator[None]:
        async with validator.running():
            yield

    return Capability(
        name="guard",
        router=router,
        lifespan=lifespan,
        banner=tuple(banner),
        operations=Operations((JWTValidator, lambda: validator)),
    )


def service_root_router() -> APIRouter:
    """``GET /`` of the guard served alone: seed 002's ``{"message": "Auth Service Running"}``."""
    router = api_router(tags=["guard"])

    @router.get("/", summary="Service description (seed 002)", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"message": "Auth Service Running"}

    return router


def token_introspector(config: GuardSettings, validator: JWTValidator) -> TokenIntrospector | None:
    keycloak = config.keycloak_issuer
    if (
        not config.introspect_opaque_tokens
        or keycloak is None
        or config.client_id is None
        or config.client_secret is None
    ):
        return None
    keys = validator.issuers[keycloak]

    async def endpoint() -> object:
        # The realm's discovery document (fetched with its keys, cached) names the endpoint.
        return (await keys.server_metadata()).introspection_endpoint

    return TokenIntrospector(
        endpoint,
        issuer=keycloak,
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        http=keys.http,
        clock=validator.clock,
        cache_ttl_s=config.introspection_cache_ttl_s,
        role_clients=(config.client_id,),
    )


def admin_client(
    config: GuardSettings, http: Callable[[], GuardedClient], runtime: Runtime
) -> KeycloakAdminClient | None:
    if (
        config.keycloak_server_url is None
        or config.keycloak_realm is None
        or config.client_id is None
        or config.client_secret is None
    ):
        return None
    breaker = CircuitBreaker(
        "keycloak-admin",
        BreakerPolicy(reset_after_s=config.admin_breaker_reset_after_s),
        runtime.clock,
        breaker_gauge(runtime.metrics),
    )
    return KeycloakAdminClient(
        server_url=config.keycloak_server_url,
        realm=config.keycloak_realm,
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        http=http,
        clock=runtime.clock,
        breaker=breaker,
        token_ttl_s=config.admin_token_cache_ttl_s,
        timeout_s=config.admin_timeout_s,
    )
