"""The vault's use cases: connect a client (authorize + callback), hand out a valid token,
revoke. Routes adapt HTTP to these; refreshing lives in :mod:`tokend.vault.refresher`, clients
and branches in :mod:`tokend.vault.registry`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog

from tokend.cache.codec import get_json, set_json
from tokend.cache.lock import Locks
from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.crypto import DecryptionFailed, FieldCipher, SecretHasher, random_secret
from tokend.core.errors import BadRequest, ServiceUnavailable
from tokend.core.pkce import new_verifier
from tokend.vault.errors import (
    ClientNotFound,
    ConnectionBroken,
    InvalidState,
    NoRefreshToken,
    NoToken,
    ProviderRefused,
    ProviderUnavailable,
)
from tokend.vault.events import Events, EventType
from tokend.vault.provider_client import (
    AppCredentials,
    GrantRejected,
    ProviderClient,
    TokenSet,
    authorize_url,
)
from tokend.vault.providers import Catalog, Provider
from tokend.vault.records import ClientRecord, ConnectionStatus, TokenRecord
from tokend.vault.refresher import Refresher
from tokend.vault.settings import VaultSettings
from tokend.vault.stores import ClientReads, ConnectionStore, OAuthStates

log = structlog.get_logger("tokend.vault")

VALID_MESSAGE: Final = "Token is valid"
NO_TOKEN_MESSAGE: Final = "No valid token available. Please complete OAuth flow."  # noqa: S105
RETRY_MESSAGE: Final = "Token refresh failed temporarily. Please try again later."
NOT_REFRESHED_MESSAGE: Final = (
    "Token is valid but could not be refreshed; it expires soon. Please complete OAuth flow again."
)
EXPIRED_MESSAGE: Final = "Token expired. Please complete OAuth flow again."
#: ``ValidToken.reason``: valid, inside the refresh margin, and not refreshable.
NOT_REFRESHED: Final = "not_refreshed"
#: ``ValidToken.reason``: expired and not refreshable: only a new connection helps.
REAUTHORIZATION_REQUIRED: Final = "reauthorization_required"
#: What of a provider's ``error`` parameter is shown back (RFC 6749 §4.1.2.1 codes are ASCII).
_ERROR_CODE: Final = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    auth_url: str = field(repr=False)  # carries the state
    state: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ValidToken:
    """The answer of ``validate``: a token to use, or why there is none."""

    is_valid: bool
    message: str
    access_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    token_type: str = "Bearer"  # noqa: S105  (a token type)
    #: Machine-readable why, when it is not simply valid: ``NOT_REFRESHED`` (a token handed
    #: out that could not be refreshed), ``REAUTHORIZATION_REQUIRED``.
    reason: str | None = None


class VaultService:
    def __init__(
        self,
        *,
        clients: ClientReads,
        connections: ConnectionStore,
        states: OAuthStates,
        providers: ProviderClient,
        catalog: Catalog,
        refresher: Refresher,
        events: Events,
        cache: TieredCache,
        locks: Locks,
        cipher: FieldCipher,
        hasher: SecretHasher,
        settings: VaultSettings,
        clock: Clock,
    ) -> None:
        self._clients = clients
        self._connections = connections
        self._states = states
        self.refresher = refresher
        self._providers = providers
        self._catalog = catalog
        self._events = events
        self._cache = cache
        self._locks = locks
        self._cipher = cipher
        self._hasher = hasher
        self._settings = settings
        self._clock = clock
        #: Validations that miss the cache at once (an entry expiring under load) share one
        #: database read and decryption.
        self._flights = SingleFlight()

    def now(self) -> datetime:
        return self._clock.now()

    # -- connect -----------------------------------------------------------------------------

    async def start_authorization(self, client_pk: int) -> AuthorizationStart:
        """RFC 6749 §4.1.1 request with a one-time state and, where supported, PKCE S256."""
        client = await self._clients.client(client_pk)
        if not client.is_active:
            raise ClientNotFound("Client not found or inactive")
        provider = self._provider(client)
        endpoints = await self._providers.endpoints(provider, client.issuer)
        state = random_secret(32)
        verifier = new_verifier() if provider.supports_pkce else None
        await self._states.save_state(
            client.id, self._hasher.hash(state), verifier, self._settings.state_ttl_s
        )
        url = authorize_url(
            provider,
            endpoints,
            _app(client),
            state=state,
            scopes=client.scopes or provider.default_scopes,
            verifier=verifier,
        )
        return AuthorizationStart(url, state)

    async def complete_authorization(
        self, state: str | None, code: str | None, error: str | None
    ) -> ClientRecord:
        """The callback: check the state, exchange the code, store the tokens."""
        if not state:
            if error:
                raise ProviderRefused(f"OAuth error: {_error_code(error)}")
            raise InvalidState
        reported = _error_code(error) if error else None
        consumed = await self._states.consume_state(self._hasher.candidates(state), reported)
        if consumed is None:
            raise InvalidState
        if reported is not None:
            # RFC 6749 §4.1.2.1: the user or the provider refused; recorded on the state row.
            log.info("vault.authorization_refused", client_pk=consumed.client_pk, error=reported)
            client = await self._clients.client(consumed.client_pk)
            name = self._provider(client).display_name
            # Seed 001's text ("Google OAuth error: <e>"), the error reduced to a safe code.
            raise ProviderRefused(f"{name} OAuth error: {reported}")
        if not code:
            raise BadRequest("Missing code parameter")
        client = await self._clients.client(consumed.client_pk)
        provider = self._provider(client)
        endpoints = await self._providers.endpoints(provider, client.issuer)
        try:
            tokens = await self._providers.exchange_code(
                provider, endpoints, _app(client), code, consumed.code_verifier
            )
        except GrantRejected as refused:
            log.info("vault.code_exchange_refused", client_pk=client.id, error=refused.code)
            raise ProviderRefused(f"Failed to exchange code for token: {refused.code}") from None
        await self._connections.store_connection(client.id, tokens)
        await self.forget(client.id)
        log.info("vault.connected", client_pk=client.id, provider=provider.name)
        await self._events.publish(EventType.CONNECTED, client, {"provider": provider.name})
        return client

    # -- hand out ----------------------------------------------------------------------------

    async def validate(self, client_pk: int) -> ValidToken:
        """Seed ``GET /tokens/validate``: a usable token (refreshed if due), or why not."""
        now = self._clock.now()
        cached = await self._cached(client_pk)
        if cached is not None and not _expires_within(cached.expires_at, now, self._margin):
            return cached
        return await self._flights.run(
            _cache_key(client_pk), lambda: self._validate_uncached(client_pk)
        )

    async def _validate_uncached(self, client_pk: int) -> ValidToken:
        client, current = await self._connections.connection(client_pk)
        if not client.is_active or current is None or not current.is_usable:
            return ValidToken(False, NO_TOKEN_MESSAGE)
        if current.expires_within(self._clock.now(), self._margin):
            try:
                current = await self.refresher.ensure_fresh(client_pk)
            except (ConnectionBroken, NoToken):
                # The provider ended the grant (invalid_grant): its tokens are not handed out.
                return ValidToken(False, NO_TOKEN_MESSAGE)
            except NoRefreshToken:
                # Nothing will refresh it: a token that still works is handed out (saying so,
                # and not cached) until it expires; then only a new connection helps.
                if current.has_expired(self._clock.now()):
                    return ValidToken(False, EXPIRED_MESSAGE, reason=REAUTHORIZATION_REQUIRED)
                return ValidToken(
                    True,
                    NOT_REFRESHED_MESSAGE,
                    current.access_token,
                    current.expires_at,
                    current.token_type,
                    reason=NOT_REFRESHED,
                )
            except ServiceUnavailable:  # provider down, lock busy, Redis down
                # A token that still works beats none: hand it out until it really expires.
                if current.has_expired(self._clock.now()):
                    return ValidToken(False, RETRY_MESSAGE)
                return _valid(current)
        if current.has_expired(self._clock.now()) or not current.is_usable:
            return ValidToken(False, NO_TOKEN_MESSAGE)
        await self._remember(current)
        return _valid(current)

    async def refresh(self, client_pk: int) -> TokenRecord:
        """Seed ``POST /tokens/refresh``: refresh now (shared with concurrent callers)."""
        client = await self._clients.client(client_pk)
        if not client.is_active:
            raise ClientNotFound
        return await self.refresher.force(client_pk)

    async def token_metadata(self, client_pk: int) -> TokenRecord:
        await self._clients.client(client_pk)
        current = await self._connections.current_token(client_pk)
        if current is None:
            raise NoToken
        return current

    # -- revoke ------------------------------------------------------------------------------

    async def revoke(self, client_pk: int) -> bool:
        """RFC 7009 at the provider where it has an endpoint, then locally in any case.

        True when the provider confirmed. A provider that cannot be reached does not stop the
        local revocation: the tokens are never handed out again either way.
        """
        client = await self._clients.client(client_pk)
        async with self._locks.hold(
            f"vault:refresh:{client_pk}",
            ttl_s=self._settings.lock_ttl_s,
            wait_s=self._settings.lock_wait_s,
        ):
            current = await self._connections.current_token(client_pk)
            if current is None or current.status is ConnectionStatus.REVOKED:
                raise NoToken
            at_provider = await self._revoke_at_provider(client, current)
            await self._connections.mark(current, ConnectionStatus.REVOKED, None)
        await self.forget(client_pk)
        log.info("vault.revoked", client_pk=client_pk, at_provider=at_provider)
        await self._events.publish(EventType.REVOKED, client, {"at_provider": int(at_provider)})
        return at_provider

    async def adopt_connection(self, client_pk: int, tokens: TokenSet) -> None:
        """Store tokens got outside the connect flow (the demo's, at start-up) as the client's
        connection."""
        await self._connections.store_connection(client_pk, tokens)
        await self.forget(client_pk)

    async def forget(self, client_pk: int) -> None:
        """Drop the cached answer of ``validate`` after the connection changed."""
        await self._cache.delete(_cache_key(client_pk))

    async def _revoke_at_provider(self, client: ClientRecord, current: TokenRecord) -> bool:
        provider = self._catalog.get(client.provider)
        if provider is None:
            return False
        # Revoking the refresh token ends the whole grant at providers that support it.
        token, hint = (
            (current.refresh_token, "refresh_token")
            if current.refresh_token
            else (current.access_token, "access_token")
        )
        try:
            endpoints = await self._providers.endpoints(provider, client.issuer)
            return await self._providers.revoke(provider, endpoints, _app(client), token, hint)
        except (GrantRejected, ProviderUnavailable) as exc:
            log.warning(
                "vault.provider_revocation_failed", client_pk=client.id, error=type(exc).__name__
            )
            return False

    # -- cache of validated tokens -----------------------------------------------------------

    @property
    def _margin(self) -> float:
        return float(self._settings.expiry_margin_s)

    async def _cached(self, client_pk: int) -> ValidToken | None:
        value = await get_json(self._cache, _cache_key(client_pk))
        if not isinstance(value, dict):
            return None
        try:
            token = self._cipher.decrypt_text(str(value["ct"]), aad=_cache_key(client_pk))
            expires = value.get("exp")
            expires_at = datetime.fromisoformat(expires) if isinstance(expires, str) else None
        except (KeyError, ValueError, DecryptionFailed):
            return None
        return ValidToken(True, VALID_MESSAGE, token, expires_at, str(value.get("typ", "Bearer")))

    async def _remember(self, token: TokenRecord) -> None:
        ttl_s = self._settings.cache_ttl_s
        if token.expires_at is not None:
            left_s = (token.expires_at - self._clock.now()).total_seconds() - self._margin
            ttl_s = min(ttl_s, left_s)
        if ttl_s <= 0:
            return
        key = _cache_key(token.client_pk)
        # Encrypted in the cache too: Redis is storage like any other.
        value = {
            "ct": self._cipher.encrypt_text(token.access_token, aad=key),
            "exp": token.expires_at.isoformat() if token.expires_at else None,
            "typ": token.token_type,
        }
        await set_json(self._cache, key, value, ttl_s)

    def _provider(self, client: ClientRecord) -> Provider:
        provider = self._catalog.get(client.provider)
        if provider is None:
            raise BadRequest(f"Unknown provider {client.provider!r} for this client")
        return provider


def _cache_key(client_pk: int) -> str:
    return f"vault:validated:{client_pk}"


def _app(client: ClientRecord) -> AppCredentials:
    return AppCredentials(client.client_id, client.client_secret, client.redirect_uri)


def _valid(token: TokenRecord) -> ValidToken:
    return ValidToken(True, VALID_MESSAGE, token.access_token, token.expires_at, token.token_type)


def _expires_within(expires_at: datetime | None, now: datetime, margin_s: float) -> bool:
    return expires_at is not None and (expires_at - now).total_seconds() <= margin_s


def _error_code(error: str) -> str:
    return _ERROR_CODE.sub("", error)[:64] or "unknown_error"
