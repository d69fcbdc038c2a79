"""Talking to an OAuth provider: authorize URL, code exchange, refresh, revocation, discovery.

RFC 6749 §4.1 (authorization code), §6 (refresh), RFC 7636 (PKCE), RFC 7009 (revocation),
OpenID Connect Discovery 1.0 for ``discovery`` providers. A refusal the provider means
(an OAuth error in a 4xx answer) raises :class:`GrantRejected`; anything that may pass on
retrying (network, timeout, 5xx, 429, an unreadable answer) raises ``ProviderUnavailable``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlencode

import httpx
import structlog
from prometheus_client import Gauge

from tokend.cache.codec import get_json, set_json
from tokend.cache.tiered import TieredCache
from tokend.core.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker
from tokend.core.clock import Clock, SystemClock
from tokend.core.crypto import sha256_b64url
from tokend.vault.errors import ProviderUnavailable
from tokend.vault.providers import Provider

log = structlog.get_logger("tokend.vault")

_DISCOVERY_TTL_S: Final = 3600.0
#: Error codes after which retrying the same request cannot succeed (RFC 6749 §5.2).
_TRANSIENT_STATUSES: Final = frozenset({408, 425, 429})


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


def code_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: S256 challenge of ``verifier``."""
    return sha256_b64url(verifier)


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
        params["code_challenge"] = code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    separator = "&" if "?" in endpoints.authorization_url else "?"
    return endpoints.authorization_url + separator + urlencode(params)


class ProviderClient:
    """Outbound calls to providers over the process's shared HTTP client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        cache: TieredCache,
        timeout_s: float,
        *,
        clock: Clock | None = None,
        gauge: Gauge | None = None,
        policy: BreakerPolicy | None = None,
    ) -> None:
        self._http = http
        self._policy = policy or BreakerPolicy()
        self._cache = cache
        self._timeout = httpx.Timeout(timeout_s)
        self._clock = clock or SystemClock()
        self._gauge = gauge
        #: One breaker per provider, made on first use (the catalog may hold many).
        self._breakers: dict[str, CircuitBreaker] = {}

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
        return await self._discover(issuer.rstrip("/"))

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
        return await self._token_request(provider, endpoints, app, form)

    async def refresh(
        self, provider: Provider, endpoints: Endpoints, app: AppCredentials, refresh_token: str
    ) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(provider, endpoints, app, form)

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
        form = {"token": token, "token_type_hint": hint}
        headers, form = _client_auth(provider, app, form)
        response = await self._post(endpoints.revocation_url, form, headers, provider.name)
        # RFC 7009 §2.2: 200 also for a token that was already invalid.
        if response.status_code == 200:
            return True
        if response.status_code >= 500 or response.status_code in _TRANSIENT_STATUSES:
            raise ProviderUnavailable(internal=f"revocation answered {response.status_code}")
        raise GrantRejected(_oauth_error(response) or f"http_{response.status_code}")

    async def _token_request(
        self, provider: Provider, endpoints: Endpoints, app: AppCredentials, form: dict[str, str]
    ) -> TokenSet:
        headers, form = _client_auth(provider, app, form)
        response = await self._post(endpoints.token_url, form, headers, provider.name)
        if response.status_code >= 500 or response.status_code in _TRANSIENT_STATUSES:
            raise ProviderUnavailable(internal=f"token endpoint answered {response.status_code}")
        error = _oauth_error(response)
        if error is not None:
            raise GrantRejected(error)
        if response.status_code != 200:
            raise GrantRejected(f"http_{response.status_code}")
        return _token_set(response, provider)

    async def _post(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str], provider: str
    ) -> httpx.Response:
        """POST to the provider through its circuit breaker: unreachable or 5xx counts
        against it, any other answer (a refusal included) shows it is up."""
        async with self._opened_breaker_explained(provider), self._breaker(provider).call():
            try:
                response = await self._http.post(
                    url,
                    data=dict(form),
                    headers={"Accept": "application/json", **headers},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                # Never the request itself: its form holds the code or the refresh token.
                log.warning(
                    "vault.provider_unreachable", provider=provider, error=type(exc).__name__
                )
                raise ProviderUnavailable(
                    internal=f"{type(exc).__name__} calling {provider}"
                ) from None
            if response.status_code >= 500:
                raise ProviderUnavailable(internal=f"{provider} answered {response.status_code}")
        return response

    @asynccontextmanager
    async def _opened_breaker_explained(self, provider: str) -> AsyncIterator[None]:
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

    async def _discover(self, issuer: str) -> Endpoints:
        key = f"vault:discovery:{hashlib.sha256(issuer.encode()).hexdigest()[:32]}"
        cached = await get_json(self._cache, key)
        if not isinstance(cached, dict):
            url = f"{issuer}/.well-known/openid-configuration"
            try:
                response = await self._http.get(url, timeout=self._timeout)
                cached = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                cached = None
            # OIDC Discovery §4.3: the document must name the issuer it was fetched for.
            if not isinstance(cached, dict) or cached.get("issuer", "").rstrip("/") != issuer:
                raise ProviderUnavailable(internal=f"no usable discovery document at {issuer}")
            await set_json(self._cache, key, cached, _DISCOVERY_TTL_S)
        authorization, token = (
            cached.get("authorization_endpoint"),
            cached.get("token_endpoint"),
        )
        revocation = cached.get("revocation_endpoint")
        if not isinstance(authorization, str) or not isinstance(token, str):
            raise ProviderUnavailable(internal=f"discovery document of {issuer} lacks endpoints")
        return Endpoints(authorization, token, revocation if isinstance(revocation, str) else None)


def _client_auth(
    provider: Provider, app: AppCredentials, form: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    if provider.token_auth_method == "client_secret_basic":  # noqa: S105  (a method name)
        # RFC 6749 §2.3.1: form-urlencode each part before joining them.
        pair = f"{_form_escape(app.client_id)}:{_form_escape(app.client_secret)}"
        basic = base64.b64encode(pair.encode()).decode("ascii")
        return {"Authorization": f"Basic {basic}"}, {**form, "client_id": app.client_id}
    return {}, {**form, "client_id": app.client_id, "client_secret": app.client_secret}


def _form_escape(value: str) -> str:
    return urlencode({"": value})[1:]


def _json_body(response: httpx.Response) -> dict[str, object] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _oauth_error(response: httpx.Response) -> str | None:
    body = _json_body(response)
    error = body.get("error") if body is not None else None
    # Some providers (GitHub) answer 200 with an error member.
    return error[:64] if isinstance(error, str) and error else None


def _token_set(response: httpx.Response, provider: Provider) -> TokenSet:
    body = _json_body(response)
    access = body.get("access_token") if body is not None else None
    if body is None or not isinstance(access, str) or not access:
        raise ProviderUnavailable(internal="token response has no access_token")
    refresh = body.get("refresh_token")
    token_type = body.get("token_type")
    scope = body.get("scope")
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        scope=scope if isinstance(scope, str) else None,
        expires_in_s=_expires_in(body.get("expires_in"), provider.default_expires_in_s),
    )


def _expires_in(value: object, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return default
