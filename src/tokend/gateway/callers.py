"""Who is asking: Kong's consumer headers from a trusted proxy, or a standalone API key.

Kong's key-auth plugin authenticates the API key and forwards ``X-Consumer-ID`` /
``X-Consumer-Username``. Anyone who can reach tokend without Kong could send those headers too,
so they are believed only from a configured proxy address (CIDR) or with the shared header
secret; otherwise the request is treated as having no consumer headers (401 AUTH_001).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Final, Protocol

import structlog
from starlette.datastructures import Headers

from tokend.core.crypto import SecretHasher
from tokend.gateway.consumer import Caller
from tokend.gateway.errors import AnonymousConsumer, InvalidRequestFormat, MissingConsumerHeaders
from tokend.gateway.settings import GatewaySettings

log = structlog.get_logger("tokend.gateway")

_MISSING: Final = {"reason": "Missing Kong consumer headers"}
_UNTRUSTED: Final = {"reason": "Consumer headers are accepted only from the API gateway"}
_TOO_LONG: Final = "Header value exceeds maximum allowed length"


class Callers(Protocol):
    def identify(self, headers: Headers, peer: str | None) -> Caller:
        """The caller the request proves, or an AUTH_001/007/009 error."""
        ...


class TrustedProxies:
    """Is a request from the API gateway: a peer in the CIDRs, or the shared header secret."""

    def __init__(self, settings: GatewaySettings) -> None:
        networks: Sequence[IPv4Network | IPv6Network] = tuple(settings.trusted_proxies)
        secret = settings.proxy_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        self._secret_header = settings.proxy_secret_header

        # Peers repeat (Kong's few addresses), so each is parsed and matched once.
        @lru_cache(maxsize=1024)
        def peer_is_trusted(peer: str) -> bool:
            try:
                address = ip_address(peer)
            except ValueError:
                return False
            return any(address in network for network in networks)

        self._peer_is_trusted = peer_is_trusted

    def trusts(self, headers: Headers, peer: str | None) -> bool:
        if peer is not None and self._peer_is_trusted(peer):
            return True
        if self._secret is None:
            return False
        presented = headers.get(self._secret_header)
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), self._secret
        )


class KongConsumers:
    """Seed 004's check order: AUTH_001 (missing) → AUTH_007 (too long) → AUTH_009 (anonymous)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._id_header = settings.consumer_id_header
        self._username_header = settings.consumer_username_header
        self._anonymous_header = settings.anonymous_header
        self._max_length = settings.max_header_length
        self._proxies = TrustedProxies(settings)

    def identify(self, headers: Headers, peer: str | None) -> Caller:
        consumer_id = headers.get(self._id_header, "").strip()
        username = headers.get(self._username_header, "").strip()
        if not consumer_id or not username:
            raise MissingConsumerHeaders(details=_MISSING)
        if not self._proxies.trusts(headers, peer):
            log.warning("gateway.untrusted_consumer_headers", peer=peer)
            raise MissingConsumerHeaders(details=_UNTRUSTED)
        # Seed 004: exactly max_header_length characters is still accepted.
        if len(consumer_id) > self._max_length or len(username) > self._max_length:
            raise InvalidRequestFormat(_TOO_LONG)
        if headers.get(self._anonymous_header) == "true":
            raise AnonymousConsumer()
        return Caller(lookup=consumer_id, consumer_id=consumer_id, username=username)


class ApiKeys:
    """Standalone mode: the client presents its API key to tokend itself (no Kong)."""

    def __init__(self, settings: GatewaySettings, hasher: SecretHasher) -> None:
        self._max_length = settings.max_header_length
        self._hasher = hasher

    def identify(self, headers: Headers, peer: str | None) -> Caller:
        api_key = api_key_of(headers)
        if not api_key:
            raise MissingConsumerHeaders(details={"reason": "Missing API key"})
        if len(api_key) > self._max_length:
            raise InvalidRequestFormat(_TOO_LONG)
        current, *previous = self._hasher.candidates(api_key)
        return Caller(
            lookup=current, consumer_id=None, username=None, fallback_lookups=tuple(previous)
        )


def api_key_of(headers: Headers) -> str:
    """Kong key-auth's ``apikey`` header, or ``Authorization: ApiKey <key>``."""
    key = headers.get("apikey")
    if key is not None:
        return key.strip()
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    return rest.strip() if scheme.lower() == "apikey" else ""
