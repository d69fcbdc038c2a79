"""The one discovery fetcher: an authorization server's metadata (OpenID Connect Discovery 1.0
§4, RFC 8414 §3), fetched through the guarded client, checked, and cached per issuer.

A document is taken only when it names the issuer it was fetched for (Discovery §4.3) and
every endpoint it names is on that issuer's origin or on an origin the settings list
(``TOKEND_HTTP__ENDPOINT_ORIGINS``): a hostile or hijacked document cannot send tokend's client
secrets to another server, nor a browser to a ``javascript:`` or ``data:`` URL.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Final

import httpx

from tokend.core.clock import Clock
from tokend.core.http import GuardedClient
from tokend.core.outbound import OutboundRefusal, origin_of, split_url

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
DEFAULT_MAX_AGE_S: Final = 3600.0
#: Issuers are tenants' input (the vault's ``oidc`` provider): the cache stays bounded.
MAX_ISSUERS: Final = 1000


class DiscoveryFailed(Exception):
    """No usable metadata for the issuer; the message says why (for logs)."""


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """The members of a metadata document tokend uses; every endpoint checked."""

    issuer: str
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    end_session_endpoint: str | None = None
    jwks_uri: str | None = None
    #: OIDC Core §5.3 (an upstream identity provider's claims beyond its ID token).
    userinfo_endpoint: str | None = None


_ENDPOINTS: Final = tuple(f.name for f in fields(ServerMetadata) if f.name != "issuer")


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery §4.1: the issuer with the well-known path appended."""
    return issuer.rstrip("/") + DISCOVERY_PATH


class Discovery:
    """Metadata per issuer, fetched once and kept ``max_age_s``."""

    def __init__(
        self,
        http: Callable[[], GuardedClient],
        clock: Clock,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        timeout_s: float = 10.0,
    ) -> None:
        self._http = http
        self._clock = clock
        self._max_age_s = max_age_s
        self._timeout_s = timeout_s
        self._cache: OrderedDict[str, tuple[float, ServerMetadata]] = OrderedDict()

    async def metadata(self, issuer: str, *, url: str | None = None) -> ServerMetadata:
        """``issuer``'s metadata, from ``url`` (default: :func:`discovery_url`)."""
        now = self._clock.monotonic()
        cached = self._cache.get(issuer)
        if cached is not None and now - cached[0] < self._max_age_s:
            return cached[1]
        metadata = await self._fetch(issuer, url or discovery_url(issuer))
        self._cache[issuer] = (now, metadata)
        self._cache.move_to_end(issuer)
        while len(self._cache) > MAX_ISSUERS:
            self._cache.popitem(last=False)
        return metadata

    def cached(self, issuer: str) -> ServerMetadata | None:
        """What :meth:`metadata` last returned for ``issuer`` (no I/O; maybe stale)."""
        entry = self._cache.get(issuer)
        return entry[1] if entry is not None else None

    def forget(self, issuer: str) -> None:
        self._cache.pop(issuer, None)

    async def _fetch(self, issuer: str, url: str) -> ServerMetadata:
        http = self._http()
        try:
            response = await http.get(
                url, timeout=self._timeout_s, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise DiscoveryFailed(f"{url}: {type(exc).__name__}: {exc}") from None
        if response.status_code != 200:
            raise DiscoveryFailed(f"{url}: HTTP {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise DiscoveryFailed(f"{url}: not JSON") from None
        if not isinstance(document, dict):
            raise DiscoveryFailed(f"{url}: not a JSON object")
        return checked_metadata(issuer, document, http.policy.endpoint_origins)


def checked_metadata(
    issuer: str, document: Mapping[str, object], allowed_origins: frozenset[str]
) -> ServerMetadata:
    """The document's metadata once it names ``issuer`` and keeps its endpoints where they
    may be; DiscoveryFailed otherwise."""
    # Discovery §4.3 / RFC 8414 §3.3: the issuer must be the one the document was fetched for
    # (a trailing slash aside, which providers are inconsistent about).
    named = document.get("issuer")
    if not isinstance(named, str) or named.rstrip("/") != issuer.rstrip("/"):
        raise DiscoveryFailed(f"the document of {issuer} names another issuer")
    try:
        home = origin_of(issuer)
    except OutboundRefusal as exc:
        raise DiscoveryFailed(f"issuer {issuer}: {exc}") from None
    endpoints: dict[str, str] = {}
    for name in _ENDPOINTS:
        value = document.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DiscoveryFailed(f"the document of {issuer} has a {name} that is not a string")
        endpoints[name] = _endpoint(issuer, name, value, home, allowed_origins)
    return ServerMetadata(issuer=issuer, **endpoints)


def _endpoint(
    issuer: str, name: str, value: str, home: str, allowed_origins: frozenset[str]
) -> str:
    try:
        origin, parts = origin_of(value), split_url(value)
    except OutboundRefusal:
        raise DiscoveryFailed(f"the {name} of {issuer} is not an http(s) URL") from None
    # RFC 8414 §2: no fragment; and no credentials, which would end up in logs.
    if parts.fragment or parts.username is not None:
        raise DiscoveryFailed(f"the {name} of {issuer} has a fragment or credentials")
    if origin != home and origin not in allowed_origins:
        raise DiscoveryFailed(
            f"the {name} of {issuer} is on {origin}, not its issuer's origin "
            "(TOKEND_HTTP__ENDPOINT_ORIGINS lists others allowed)"
        )
    return value
