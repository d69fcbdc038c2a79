"""Keycloak Admin REST API client: service-account token, user lookups, roles and groups.

The token comes from the client-credentials grant (RFC 6749 §4.4, through tokend's one OAuth
client), is cached up to ``token_ttl_s`` (0: never cached) and renewed ``renew_margin_s`` before
the issuer says it expires. Every call goes through one circuit breaker; an unreachable,
failing or open upstream is a ``KeycloakConnectionError`` (503), an unknown user a
``UserNotFoundError`` (404).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from tokend.core.breaker import BreakerOpen, CircuitBreaker
from tokend.core.clock import Clock
from tokend.core.http import GuardedClient
from tokend.core.oauth_client import ClientAuth, ErrorResponse, MalformedResponse, OAuthClient
from tokend.guard.errors import KeycloakConnectionError, UserNotFoundError

log = structlog.get_logger("tokend.guard.admin")

UNREACHABLE = "Keycloak server unreachable"


@dataclass(frozen=True, slots=True)
class AdminToken:
    value: str = field(repr=False)
    renew_at: float  # monotonic


@dataclass(slots=True)
class TokenStats:
    hits: int = 0
    misses: int = 0
    fetches: int = 0


class _UpstreamFailed(Exception):
    """Raised inside the breaker block so the failure is counted."""


class KeycloakAdminClient:
    def __init__(
        self,
        *,
        server_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        http: Callable[[], GuardedClient],
        clock: Clock,
        breaker: CircuitBreaker,
        token_ttl_s: float = 300,
        renew_margin_s: float = 30,
        timeout_s: float = 10.0,
    ) -> None:
        base = server_url.rstrip("/")
        self.token_url = f"{base}/realms/{realm}/protocol/openid-connect/token"
        self.api_url = f"{base}/admin/realms/{realm}"
        self.token_ttl_s = token_ttl_s
        self.stats = TokenStats()
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._breaker = breaker
        self._renew_margin_s = renew_margin_s
        self._timeout_s = timeout_s
        self._token: AdminToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"KeycloakAdminClient({self.api_url!r})"

    # -- users -------------------------------------------------------------------------------
    async def user_by_id(self, user_id: str) -> Mapping[str, Any]:
        user = await self._get(f"/users/{quote(user_id, safe='')}", not_found=user_id)
        if not isinstance(user, dict):
            raise UserNotFoundError(user_id)
        return user

    async def user_by_username(self, username: str) -> Mapping[str, Any]:
        return await self._search({"username": username, "exact": "true"}, username)

    async def user_by_email(self, email: str) -> Mapping[str, Any]:
        return await self._search({"email": email, "exact": "true"}, email)

    async def user_realm_roles(self, user_id: str) -> list[str]:
        path = f"/users/{quote(user_id, safe='')}/role-mappings/realm"
        roles = await self._get(path, not_found=user_id)
        return [r["name"] for r in roles if isinstance(r, dict) and isinstance(r.get("name"), str)]

    async def user_groups(self, user_id: str) -> list[dict[str, Any]]:
        groups = await self._get(f"/users/{quote(user_id, safe='')}/groups", not_found=user_id)
        return [
            {"id": g.get("id"), "name": g.get("name"), "path": g.get("path")}
            for g in groups
            if isinstance(g, dict)
        ]

    async def _search(self, params: Mapping[str, str], wanted: str) -> Mapping[str, Any]:
        users = await self._get("/users", params=params, not_found=wanted)
        if not isinstance(users, list) or not users or not isinstance(users[0], dict):
            raise UserNotFoundError(wanted)
        return users[0]

    # -- cache -------------------------------------------------------------------------------
    def cache_info(self) -> dict[str, Any]:
        cached = self._token is not None and self._token.renew_at > self._clock.monotonic()
        return {
            "maxsize": 1,
            "ttl": int(self.token_ttl_s),
            "current_size": 1 if cached else 0,
            "keys": ["admin_token"] if cached else [],
            "hits": self.stats.hits,
            "misses": self.stats.misses,
        }

    def clear(self) -> None:
        self._token = None

    # -- HTTP --------------------------------------------------------------------------------
    async def _get(
        self, path: str, *, not_found: str, params: Mapping[str, str] | None = None
    ) -> Any:
        for attempt in (1, 2):
            token = await self._access_token()
            response = await self._call(
                "GET",
                self.api_url + path,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            if response.status_code == 401 and attempt == 1:
                self._token = None  # revoked or expired early: one fresh token, one retry
                continue
            if response.status_code == 404:
                raise UserNotFoundError(not_found)
            if response.status_code != 200:
                raise KeycloakConnectionError(
                    internal=f"admin API {path.split('/')[1]}: HTTP {response.status_code}"
                )
            try:
                return response.json()
            except ValueError:
                raise KeycloakConnectionError(internal="admin API answered non-JSON") from None
        raise KeycloakConnectionError(internal="admin API refused a fresh service token")

    async def _access_token(self) -> str:
        token = self._token
        if token is not None and self._clock.monotonic() < token.renew_at:
            self.stats.hits += 1
            return token.value
        async with self._lock:
            token = self._token
            if token is not None and self._clock.monotonic() < token.renew_at:
                self.stats.hits += 1
                return token.value
            self.stats.misses += 1
            fresh = await self._fetch_token()
            if self.token_ttl_s > 0:
                self._token = fresh
            return fresh.value

    async def _fetch_token(self) -> AdminToken:
        # RFC 6749 §4.4 with client_secret_basic, through tokend's one OAuth client; its
        # breaker is this client's, so an unreachable token endpoint counts like the API.
        auth = ClientAuth(self._client_id, "client_secret_basic", self._client_secret)
        client = OAuthClient(self._http(), auth, self._timeout_s, self._breaker)
        try:
            answer = await client.token(self.token_url, {"grant_type": "client_credentials"})
        except BreakerOpen as exc:
            raise KeycloakConnectionError(
                UNREACHABLE, internal="circuit open", headers=exc.headers
            ) from None
        except httpx.HTTPError as exc:
            raise KeycloakConnectionError(
                UNREACHABLE, internal=f"POST {self.token_url}: {type(exc).__name__}"
            ) from None
        except ErrorResponse as exc:
            self.stats.fetches += 1
            internal = f"service-account token: HTTP {exc.status}"
            if exc.status >= 500:
                raise KeycloakConnectionError(UNREACHABLE, internal=internal) from None
            raise KeycloakConnectionError(internal=internal) from None
        except MalformedResponse as exc:
            self.stats.fetches += 1
            raise KeycloakConnectionError(internal=f"service-account token: {exc}") from None
        self.stats.fetches += 1
        expires_in = answer.expires_in_s
        lifetime = float(expires_in) if expires_in is not None else self.token_ttl_s
        lifetime = min(lifetime, self.token_ttl_s) if self.token_ttl_s > 0 else 0
        # Renew early: the margin, but never more than a tenth of a short lifetime.
        margin = min(self._renew_margin_s, lifetime / 10)
        return AdminToken(answer.access_token, self._clock.monotonic() + lifetime - margin)

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            async with self._breaker.call():
                try:
                    response = await self._http().request(
                        method, url, timeout=self._timeout_s, **kwargs
                    )
                except httpx.HTTPError as exc:
                    raise _UpstreamFailed(type(exc).__name__) from None
                if response.status_code >= 500:
                    raise _UpstreamFailed(f"HTTP {response.status_code}")
                return response
        except BreakerOpen as exc:
            raise KeycloakConnectionError(
                UNREACHABLE, internal="circuit open", headers=exc.headers
            ) from None
        except _UpstreamFailed as exc:
            raise KeycloakConnectionError(
                UNREACHABLE, internal=f"{method} {url.split('?')[0]}: {exc}"
            ) from None
