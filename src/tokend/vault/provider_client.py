"""Talking to an OAuth provider: authorize URL, code exchange, refresh, revocation, discovery.

RFC 6749 §4.1 (authorization code), §6 (refresh), RFC 7636 (PKCE), RFC 7009 (revocation),
OpenID Connect Discovery 1.0 for ``discovery`` providers, all through tokend's one OAuth client
(:mod:`tokend.core.oauth_client`, :mod:`tokend.core.discovery`) on the guarded HTTP client. A
refusal the provider means (an OAuth error in a 4xx answer) raises :class:`GrantRejected`;
anything that may pass on retrying (network, timeout, 5xx, 429, an unreadable answer, a target
the outbound policy refuses) raises ``ProviderUnavailable``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlencode

import httpx
import structlog
from prometheus_client import Gauge

from tokend.core.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker
from tokend.core.clock import Clock, SystemClock
from tokend.core.discovery import Discovery, DiscoveryFailed
from tokend.core.http import GuardedClient
from tokend.core.oauth_client import (
    ClientAuth,
    ErrorResponse,
    MalformedResponse,
    OAuthClient,
    TokenResponse,
)
from tokend.core.pkce import S256, s256
from tokend.vault.errors import ProviderUnavailable
from tokend.vault.providers import Provider

log = structlog.get_logger("tokend.vault")

T = TypeVar("T")


class GrantRejected(Exception):
    """The provider refused: ``code`` is its OAuth error code (``invalid_grant``, ...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization_url: str
    token_url: str
    revocation_url: str | None


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The tenant's OAuth app at the provider."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    token_type: str
    scope: str | None
    expires_in_s: int | None


def authorize_url(
    provider: Provider,
    endpoints: Endpoints,
    app: AppCredentials,
    *,
    state: str,
    scopes: tuple[str, ...],
    verifier: str | None,
) -> str:
    """RFC 6749 §4.1.1 authorization request, plus the provider's extra parameters."""
    params: dict[str, str] = {
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "response_type": "code",
        "scope": provider.scope_separator.join(scopes),
        **provider.authorize_params,
        "state": state,
    }
    if verifier is not None:
        params["code_challenge"] = s256(verifier)
        params["code_challenge_method"] = S256
    separator = "&" if "?" in endpoints.authorization_url else "?"
    return endpoints.authorization_url + separator + urlencode(params)


class ProviderClient:
    """Outbound calls to providers over the process's guarded HTTP client."""

    def __init__(
        self,
        http: GuardedClient,
        timeout_s: float,
        *,
        clock: Clock | None = None,
        gauge: Gauge | None = None,
        policy: BreakerPolicy | None = None,
    ) -> None:
        self._http = http
        self._policy = policy or BreakerPolicy()
        self._timeout = httpx.Timeout(timeout_s)
        self._clock = clock or SystemClock()
        self._gauge = gauge
        self._discovery = Discovery(lambda: http, self._clock, timeout_s=timeout_s)
        #: One breaker per provider, made on first use (the catalog may hold many).
        self._breakers: dict[str, CircuitBreaker] = {}

    async def url_refusal(self, url: str) -> str | None:
        """Why tokend would not call ``url`` (a client's issuer or webhook), or None."""
        return await self._http.refusal(url)

    async def endpoints(self, provider: Provider, issuer: str | None) -> Endpoints:
        """The provider's endpoints; for a discovery provider, read from ``issuer``'s metadata."""
        if not provider.uses_discovery:
            assert provider.authorization_url is not None
            assert provider.token_url is not None
            return Endpoints(
                provider.authorization_url, provider.token_url, provider.revocation_url
            )
        if not issuer:
            raise ProviderUnavailable(
                f"provider {provider.name} needs the client's issuer",
                internal="discovery provider without an issuer",
            )
        try:
            metadata = await self._discovery.metadata(issuer.rstrip("/"))
        except DiscoveryFailed as exc:
            log.warning("vault.discovery_failed", provider=provider.name, reason=str(exc))
            raise ProviderUnavailable(internal=f"discovery: {exc}") from None
        authorization, token = metadata.authorization_endpoint, metadata.token_endpoint
        if authorization is None or token is None:
            raise ProviderUnavailable(internal=f"discovery document of {issuer} lacks endpoints")
        return Endpoints(authorization, token, metadata.revocation_endpoint)

    async def exchange_code(
        self,
        provider: Provider,
        endpoints: Endpoints,
        app: AppCredentials,
        code: str,
        verifier: str | None,
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri}
        if verifier is not None:
            form["code_verifier"] = verifier
        client = self._oauth(provider, app)
        answer = await self._answer(provider, client.token(endpoints.token_url, form))
        return _token_set(answer, provider)

    async def refresh(
        self, provider: Provider, endpoints: Endpoints, app: AppCredentials, refresh_token: str
    ) -> TokenSet:
        client = self._oauth(provider, app)
        answer = await self._answer(provider, client.refresh(endpoints.token_url, refresh_token))
        return _token_set(answer, provider)

    async def revoke(
        self,
        provider: Provider,
        endpoints: Endpoints,
        app: AppCredentials,
        token: str,
        hint: str,
    ) -> bool:
        """RFC 7009 §2.1; True when the provider confirmed (200), False when it has no endpoint."""
        if endpoints.revocation_url is None:
            return False
        client = self._oauth(provider, app)
        await self._answer(provider, client.revoke(endpoints.revocation_url, token, hint))
        return True

    def _oauth(self, provider: Provider, app: AppCredentials) -> OAuthClient:
        auth = ClientAuth(app.client_id, provider.token_auth_method, app.client_secret)
        return OAuthClient(self._http, auth, self._timeout, self._breaker(provider.name))

    async def _answer(self, provider: Provider, call: Awaitable[T]) -> T:
        """The provider's answer to ``call``, its failures in the vault's words."""
        name = provider.name
        try:
            async with self._opened_breaker_explained():
                return await call
        except httpx.HTTPError as exc:
            # Never the request itself: its form holds the code or the refresh token.
            log.warning("vault.provider_unreachable", provider=name, error=type(exc).__name__)
            raise ProviderUnavailable(internal=f"{type(exc).__name__} calling {name}") from None
        except ErrorResponse as exc:
            if exc.is_transient:
                raise ProviderUnavailable(internal=f"{name} answered {exc.status}") from None
            raise GrantRejected(exc.error or f"http_{exc.status}") from None
        except MalformedResponse as exc:
            raise ProviderUnavailable(internal=f"{name} returned {exc}") from None

    @asynccontextmanager
    async def _opened_breaker_explained(self) -> AsyncIterator[None]:
        """An open breaker answers in the vault's words (with its Retry-After), not its own."""
        try:
            yield
        except BreakerOpen as exc:
            raise BreakerOpen(
                ProviderUnavailable.default_description, internal=exc.internal, headers=exc.headers
            ) from None

    def _breaker(self, provider: str) -> CircuitBreaker:
        breaker = self._breakers.get(provider)
        if breaker is None:
            breaker = self._breakers[provider] = CircuitBreaker(
                f"vault:{provider}", self._policy, self._clock, self._gauge
            )
        return breaker


def _token_set(answer: TokenResponse, provider: Provider) -> TokenSet:
    expires_in = answer.expires_in_s
    if expires_in is None:
        # RFC 6749 §5.1: expires_in is RECOMMENDED, not required. The lifetime assumed instead
        # is the provider's catalogue field ``refresh.default_expires_in_s`` (null: no expiry).
        log.info(
            "vault.expires_in_assumed",
            provider=provider.name,
            assumed_s=provider.default_expires_in_s,
        )
    return TokenSet(
        access_token=answer.access_token,
        refresh_token=answer.refresh_token,
        token_type=answer.token_type,
        scope=answer.scope,
        expires_in_s=expires_in if expires_in is not None else provider.default_expires_in_s,
    )
