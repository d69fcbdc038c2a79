"""A trusted issuer and its signing keys: discovery, JWKS cache, rate-limited refetch.

Keys come from one of: an in-process :class:`KeySource` (tokend's own keyring), a static JWKS,
a ``jwks_uri``, or OpenID Connect Discovery (tokend's one discovery fetcher,
:mod:`tokend.core.discovery`, which keeps the document's endpoints on the issuer's origin).
Every fetch goes through the guarded HTTP client. Fetched keys are cached ``ttl_s`` seconds
(0: fetched on every validation), refreshed ahead of expiry in the background, refetched once
when a token names an unknown ``kid`` -- at most once per ``refetch_interval_s``, so a flood of
forged kids cannot turn into a flood of requests to the issuer -- and kept when the issuer is
unreachable.

An issuer may also name a :class:`RevocationHook`: a token it names as revoked is refused even
though its signature and claims are good (tokend wires its own issuer to its deny-list).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import httpx
import structlog

from tokend.core.clock import Clock
from tokend.core.discovery import Discovery, DiscoveryFailed, ServerMetadata, discovery_url
from tokend.core.http import GuardedClient
from tokend.core.jwt import KeySource, VerificationKey, verification_key_from_jwk
from tokend.guard.errors import JWKSFetchError

log = structlog.get_logger("tokend.guard.keys")

#: Past this share of the TTL a validation starts a background refresh.
REFRESH_AHEAD_RATIO: Final = 0.8
MAX_DOCUMENT_BYTES: Final = 512 * 1024


class RevocationHook(Protocol):
    """Asked about every token of an issuer after its signature and claims were verified."""

    async def is_revoked(self, jti: str | None, grant_id: str | None) -> bool:
        """True when the token ``jti`` (its ``jti`` claim), or every token of the grant
        ``grant_id`` (its ``gid`` claim), was revoked at the issuer."""
        ...


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    """One issuer whose tokens are accepted, and what its tokens must look like."""

    issuer: str
    algorithms: frozenset[str] = frozenset({"RS256", "ES256"})
    #: Accepted ``aud`` values, any one is enough; empty: ``aud`` is not checked.
    audiences: frozenset[str] = frozenset()
    required_claims: tuple[str, ...] = ("exp", "iat", "sub")
    #: Expected ``typ`` header (``at+jwt`` for RFC 9068 tokens); None: not checked.
    typ: str | None = None
    #: Clients whose ``resource_access`` roles count as the principal's roles.
    role_clients: tuple[str, ...] = ()
    #: Where the keys come from; none set: OpenID Connect Discovery at ``issuer``.
    discovery_url: str | None = None
    jwks_uri: str | None = None
    jwks: Mapping[str, Any] | None = None
    keys: KeySource | None = field(default=None, repr=False)
    #: Asked after verification; None: a valid token is good until it expires.
    revocations: RevocationHook | None = field(default=None, repr=False)

    @property
    def is_fetched(self) -> bool:
        return self.keys is None and self.jwks is None

    def effective_discovery_url(self) -> str | None:
        if self.discovery_url is not None:
            return self.discovery_url
        if self.is_fetched and self.jwks_uri is None:
            return discovery_url(self.issuer)
        return None


@dataclass(slots=True)
class KeyStats:
    hits: int = 0
    misses: int = 0
    fetches: int = 0
    failures: int = 0
    suppressed_refetches: int = 0


def parse_jwks(document: object) -> dict[str, VerificationKey]:
    """The usable signing keys of a JWKS document (RFC 7517 §5); others are skipped."""
    members = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(members, list):
        raise ValueError("JWKS document has no keys array")
    keys: dict[str, VerificationKey] = {}
    for jwk in members:
        if not isinstance(jwk, dict):
            continue
        try:
            key = verification_key_from_jwk(jwk)
        except ValueError as exc:
            log.info("guard.jwk_skipped", kid=str(jwk.get("kid"))[:64], reason=str(exc))
            continue
        keys[key.kid] = key
    return keys


class IssuerKeys:
    """The key set of one issuer; a :class:`KeySource` whose ``find`` never does I/O."""

    def __init__(
        self,
        config: TrustedIssuer,
        http: Callable[[], GuardedClient],
        clock: Clock,
        *,
        ttl_s: float,
        refetch_interval_s: float,
        timeout_s: float = 5.0,
        discovery: Discovery | None = None,
    ) -> None:
        self.config = config
        self.ttl_s = ttl_s
        self.refetch_interval_s = refetch_interval_s
        self.stats = KeyStats()
        self.http = http
        self.discovery = discovery or Discovery(http, clock, timeout_s=timeout_s)
        self._clock = clock
        self._timeout_s = timeout_s
        self._keys: dict[str, VerificationKey] = (
            parse_jwks(config.jwks) if config.jwks is not None else {}
        )
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        #: When a token's unknown kid last caused a refetch: the cool-down counts from here
        #: only, never from a regular (TTL or refresh-ahead) fetch.
        self._kid_refetched_at: float | None = None
        self._static = not config.is_fetched
        self._lock = asyncio.Lock()
        self.missed = False

    # -- KeySource -------------------------------------------------------------------------
    def find(self, kid: str) -> VerificationKey | None:
        source = self.config.keys
        key = source.find(kid) if source is not None else self._keys.get(kid)
        if key is None:
            self.missed = True
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return key

    # -- cache state -----------------------------------------------------------------------
    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def is_cached(self) -> bool:
        return self.config.is_fetched and self.ttl_s > 0

    def age_s(self) -> float | None:
        if self._fetched_at is None:
            return None
        return self._clock.monotonic() - self._fetched_at

    def clear(self) -> None:
        """Forget fetched keys and discovery metadata (``POST /cache/clear``)."""
        if self.config.is_fetched:
            self._keys = {}
            self.discovery.forget(self.config.issuer)
            self._fetched_at = None
            self._attempted_at = None
            self._kid_refetched_at = None

    def needs_background_refresh(self) -> bool:
        age = self.age_s()
        return (
            self.is_cached
            and age is not None
            and REFRESH_AHEAD_RATIO * self.ttl_s <= age < self.ttl_s
            and not self._lock.locked()
        )

    def is_current(self) -> bool:
        """True when :meth:`ensure_fresh` has nothing to do: the check every validation makes
        without starting a coroutine."""
        if self._static:
            return True
        fetched_at = self._fetched_at
        return (
            self.ttl_s > 0
            and fetched_at is not None
            and self._clock.monotonic() - fetched_at < self.ttl_s
        )

    async def ensure_fresh(self) -> None:
        """Make sure keys are loaded and within their TTL; raise JWKSFetchError if none are."""
        if not self.config.is_fetched:
            return
        if self.ttl_s <= 0:
            # No cache: every validation reads the issuer's current JWKS.
            await self._refresh(keep_last_good=False)
            return
        age = self.age_s()
        if age is not None and age < self.ttl_s:
            return
        if self._keys and self._recently_attempted():
            return  # the issuer failed a moment ago: keep serving the last good keys
        await self._refresh(keep_last_good=True)

    async def refetch_for_unknown_kid(self) -> bool:
        """One refetch after a token named an unknown kid; False when rate-limited.

        The cool-down (``refetch_interval_s``) starts at such a refetch only: a key the issuer
        rotated in right after a regular fetch is found by one refetch, and a stream of tokens
        with made-up kids costs the issuer at most one fetch per interval.
        """
        if not self.is_cached:
            return False
        if self._lock.locked():
            async with self._lock:  # a fetch is under way: its result is what we want
                return True
        now = self._clock.monotonic()
        if (
            self._kid_refetched_at is not None
            and now - self._kid_refetched_at < self.refetch_interval_s
        ) or self._recently_failed():
            self.stats.suppressed_refetches += 1
            return False
        self._kid_refetched_at = now
        await self._refresh(keep_last_good=True)
        return True

    async def refresh_quietly(self) -> None:
        """Background refresh ahead of expiry; failures keep the current keys."""
        if self._lock.locked():
            return
        await self._refresh(keep_last_good=True)

    def _recently_failed(self) -> bool:
        """The last fetch failed within the interval: the issuer is not asked again yet."""
        return self._recently_attempted() and (
            self._fetched_at is None or self._fetched_at < (self._attempted_at or 0.0)
        )

    def _recently_attempted(self) -> bool:
        return (
            self._attempted_at is not None
            and self._clock.monotonic() - self._attempted_at < self.refetch_interval_s
        )

    async def _refresh(self, *, keep_last_good: bool) -> None:
        async with self._lock:
            self._attempted_at = self._clock.monotonic()
            try:
                keys = await self._fetch()
            except JWKSFetchError as exc:
                self.stats.failures += 1
                if keep_last_good and self._keys:
                    log.warning(
                        "guard.jwks_stale",
                        issuer=self.config.issuer,
                        reason=exc.internal,
                        kept=len(self._keys),
                    )
                    return
                raise
            self._keys = keys
            self._fetched_at = self._clock.monotonic()
            self.stats.fetches += 1

    async def _fetch(self) -> dict[str, VerificationKey]:
        jwks_uri = self.config.jwks_uri
        discovery = self.config.effective_discovery_url()
        if discovery is not None:
            jwks_uri = (await self.server_metadata()).jwks_uri
            if jwks_uri is None:
                raise JWKSFetchError(internal="discovery document has no jwks_uri")
        assert jwks_uri is not None
        document = await self._get_json(jwks_uri, "JWKS")
        try:
            return parse_jwks(document)
        except ValueError as exc:
            raise JWKSFetchError(internal=f"JWKS of {self.config.issuer}: {exc}") from None

    async def server_metadata(self) -> ServerMetadata:
        """The issuer's discovery metadata (cached by the discovery fetcher); JWKSFetchError
        when it has none or it cannot be read."""
        url = self.config.effective_discovery_url()
        if url is None:
            raise JWKSFetchError(internal=f"{self.config.issuer} is not configured for discovery")
        try:
            return await self.discovery.metadata(self.config.issuer, url=url)
        except DiscoveryFailed as exc:
            raise JWKSFetchError(internal=f"discovery: {exc}") from None

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self.http().get(
                url, timeout=self._timeout_s, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise JWKSFetchError(internal=f"{what} {url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise JWKSFetchError(internal=f"{what} {url}: HTTP {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise JWKSFetchError(internal=f"{what} {url}: too large")
        try:
            document = response.json()
        except ValueError:
            raise JWKSFetchError(internal=f"{what} {url}: not JSON") from None
        if not isinstance(document, dict):
            raise JWKSFetchError(internal=f"{what} {url}: not a JSON object")
        return document
