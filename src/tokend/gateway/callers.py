"""Who is asking: Kong's consumer headers from a trusted proxy, or a standalone API key.

Kong's key-auth plugin authenticates the API key and forwards ``X-Consumer-ID`` /
``X-Consumer-Username``. Anyone who can reach tokend without Kong could send those headers too,
so they are believed only with the shared header secret and/or from a configured proxy network
(the TCP peer, which no header can change); otherwise the request is treated as having no
consumer headers (401 AUTH_001).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Final, Protocol

import structlog

from tokend.core.crypto import SecretHasher
from tokend.gateway.errors import AnonymousConsumer, InvalidRequestFormat, MissingConsumerHeaders
from tokend.gateway.settings import GatewaySettings

log = structlog.get_logger("tokend.gateway")

_MISSING: Final = {"reason": "Missing Kong consumer headers"}
_UNTRUSTED: Final = {"reason": "Consumer headers are accepted only from the API gateway"}
_TOO_LONG: Final = "Header value exceeds maximum allowed length"


@dataclass(frozen=True, slots=True)
class Presented:
    """What a request shows about its caller: the header values the route read, and its peer."""

    #: Kong's consumer headers (``consumer_id_header``, ``consumer_username_header``), trimmed.
    consumer_id: str = ""
    username: str = ""
    #: Kong's ``anonymous_header`` said ``true``.
    is_anonymous: bool = False
    #: The ``proxy_secret_header`` value, when sent.
    proxy_secret: str | None = field(default=None, repr=False)
    #: Standalone mode: the API key (``apikey`` or ``Authorization: ApiKey``), trimmed.
    api_key: str = field(default="", repr=False)
    #: The address the request came from.
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked, once the request proved it: Kong's consumer headers or a standalone API key."""

    #: What the credential is looked up (and cached) by: Kong's consumer id, or the key's hash.
    lookup: str
    consumer_id: str | None
    username: str | None
    #: Other lookups to try when ``lookup`` finds nothing: the API key's hashes under the
    #: previous secret keys (``TOKEND_PREVIOUS_SECRET_KEYS``), so a key rotation keeps keys valid.
    fallback_lookups: tuple[str, ...] = ()


class Callers(Protocol):
    def identify(self, presented: Presented) -> Caller:
        """The caller the request proves, or an AUTH_001/007/009 error."""
        ...


class TrustedProxies:
    """Is a request from the API gateway: the shared header secret when one is set, a TCP peer
    in the networks when they are set, both when both are; nothing when neither is."""

    def __init__(self, settings: GatewaySettings) -> None:
        networks: Sequence[IPv4Network | IPv6Network] = tuple(settings.trusted_proxies)
        secret = settings.proxy_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        self._check_peer = bool(networks)
        self.is_configured = self._secret is not None or self._check_peer

        # Peers repeat (Kong's few addresses), so each is parsed and matched once.
        @lru_cache(maxsize=1024)
        def peer_is_trusted(peer: str) -> bool:
            try:
                address = ip_address(peer)
            except ValueError:
                return False
            return any(address in network for network in networks)

        self._peer_is_trusted = peer_is_trusted

    def trusts(self, presented: Presented) -> bool:
        if not self.is_configured:
            return False
        if self._check_peer and (
            presented.peer is None or not self._peer_is_trusted(presented.peer)
        ):
            return False
        if self._secret is None:
            return True
        return presented.proxy_secret is not None and hmac.compare_digest(
            presented.proxy_secret.encode("utf-8", "surrogateescape"), self._secret
        )


class KongConsumers:
    """Seed 004's check order: AUTH_001 (missing) → AUTH_007 (too long) → AUTH_009 (anonymous)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._max_length = settings.max_header_length
        self._proxies = TrustedProxies(settings)

    def identify(self, presented: Presented) -> Caller:
        consumer_id, username = presented.consumer_id, presented.username
        if not consumer_id or not username:
            raise MissingConsumerHeaders(details=_MISSING)
        if not self._proxies.trusts(presented):
            log.warning("gateway.untrusted_consumer_headers", peer=presented.peer)
            raise MissingConsumerHeaders(details=_UNTRUSTED)
        # Seed 004: exactly max_header_length characters is still accepted.
        if len(consumer_id) > self._max_length or len(username) > self._max_length:
            raise InvalidRequestFormat(_TOO_LONG)
        if presented.is_anonymous:
            raise AnonymousConsumer()
        return Caller(lookup=consumer_id, consumer_id=consumer_id, username=username)


class ApiKeys:
    """Standalone mode: the client presents its API key to tokend itself (no Kong)."""

    def __init__(self, settings: GatewaySettings, hasher: SecretHasher) -> None:
        self._max_length = settings.max_header_length
        self._hasher = hasher

    def identify(self, presented: Presented) -> Caller:
        api_key = presented.api_key
        if not api_key:
            raise MissingConsumerHeaders(details={"reason": "Missing API key"})
        if len(api_key) > self._max_length:
            raise InvalidRequestFormat(_TOO_LONG)
        current, *previous = self._hasher.candidates(api_key)
        return Caller(
            lookup=current, consumer_id=None, username=None, fallback_lookups=tuple(previous)
        )
