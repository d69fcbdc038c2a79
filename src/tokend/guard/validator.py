"""JWTValidator: bearer tokens from trusted issuers, verified by the spine's JWT module."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import structlog
from anyio.abc import TaskGroup

from tokend.core.clock import Clock, SystemClock
from tokend.core.discovery import Discovery
from tokend.core.errors import InvalidToken
from tokend.core.http import GuardedClient
from tokend.core.jwt import (
    Claims,
    MalformedToken,
    TokenExpired,
    TokenNotForUs,
    TokenNotYetValid,
    UntrustedToken,
    read_unverified,
    verify,
)
from tokend.core.outbound import OutboundPolicy
from tokend.guard.errors import TokenExpiredError, TokenValidationError
from tokend.guard.introspection import TokenIntrospector
from tokend.guard.issuers import IssuerKeys, TrustedIssuer
from tokend.guard.principal import AuthMethod, Principal, principal_from_claims

log = structlog.get_logger("tokend.guard")
#: Where the guard logs in a service that has not configured structlog (an adopter's app with the
#: tokend-guard wheel): the stdlib logger ``tokend.guard``, which that service's logging routes;
#: structlog's default would print to stdout, into whatever the service writes there.
_stdlib_log = structlog.wrap_logger(
    logging.getLogger("tokend.guard"),
    processors=[structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True)],
)


def _logger() -> Any:
    return log if structlog.is_configured() else _stdlib_log


class JWTValidator:
    """Validates JWTs from one or more trusted issuers and maps them to a :class:`Principal`.

    Use ``async with validator.running():`` to let it refresh keys in the background; without
    it, keys are still refreshed, inline, once their TTL has passed.
    """

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        *,
        http: GuardedClient | Callable[[], GuardedClient] | None = None,
        clock: Clock | None = None,
        leeway_s: int = 30,
        jwks_ttl_s: float = 600,
        refetch_interval_s: float = 30,
        fetch_timeout_s: float = 5.0,
        introspector: TokenIntrospector | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        if not issuers:
            raise ValueError("JWTValidator needs at least one trusted issuer")
        self.clock = clock or SystemClock()
        self.leeway_s = leeway_s
        self.jwks_ttl_s = jwks_ttl_s
        #: What the validator's own client (no ``http`` given) may reach: by default https to
        #: public addresses only; allow a local issuer with ``OutboundPolicy.allowing(...)``.
        self._outbound = outbound or OutboundPolicy()
        self._own_http: GuardedClient | None = None
        if isinstance(http, httpx.AsyncClient):
            if not isinstance(http, GuardedClient):  # an untyped caller's plain client
                raise TypeError("JWTValidator fetches through a tokend.core.http.GuardedClient")
            client = http
            self._http: Callable[[], GuardedClient] = lambda: client
        elif http is not None:
            self._http = http
        else:
            self._http = self._default_http
        #: One discovery fetcher (and cache) for every issuer.
        self.discovery = Discovery(self._http, self.clock, timeout_s=fetch_timeout_s)
        self.issuers: dict[str, IssuerKeys] = {
            config.issuer: IssuerKeys(
                config,
                self._http,
                self.clock,
                ttl_s=jwks_ttl_s,
                refetch_interval_s=refetch_interval_s,
                timeout_s=fetch_timeout_s,
                discovery=self.discovery,
            )
            for config in issuers
        }
        self._only = next(iter(self.issuers.values())) if len(self.issuers) == 1 else None
        self._tasks: TaskGroup | None = None
        #: Opaque (non-JWT) tokens go to RFC 7662 introspection when set.
        self.introspector = introspector

    def _default_http(self) -> GuardedClient:
        if self._own_http is None:
            self._own_http = GuardedClient(self._outbound, timeout=httpx.Timeout(5.0))
        return self._own_http

    @asynccontextmanager
    async def running(self) -> AsyncIterator[JWTValidator]:
        """Background key refresh while inside; closes an HTTP client the validator opened."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                try:
                    yield self
                finally:
                    self._tasks = None
                    tasks.cancel_scope.cancel()
        finally:
            if self._own_http is not None:
                await self._own_http.aclose()
                self._own_http = None

    async def validate(self, token: str, *, via: AuthMethod = "bearer") -> Principal:
        """The principal of a valid access token; TokenValidationError/TokenExpiredError else.

        A refusal is logged at info (``guard.token_refused``) with its reason — audience,
        issuer, key, expired … — and what the token claims to be (issuer, audience, key id,
        expiry: never the token, its subject or its signature), since the client only hears
        "Invalid or expired token"."""
        try:
            return await self._validate(token, via)
        except (TokenValidationError, TokenExpiredError) as exc:
            _logger().info(
                "guard.token_refused", reason=exc.reason, detail=exc.internal, **_described(token)
            )
            raise

    async def _validate(self, token: str, via: AuthMethod) -> Principal:
        # RFC 7515 §7.1: a compact JWS is ASCII; core.jwt's verify assumes it.
        if not token.isascii():
            raise _refused("malformed", "token has non-ASCII characters")
        if self.introspector is not None and token.count(".") != 2:
            return await self.introspector.introspect(token)
        keys = self._issuer_of(token)
        config = keys.config
        claims = await self.verify(
            token,
            keys,
            audience=config.audiences or None,
            typ=config.typ,
            required_claims=config.required_claims,
        )
        if config.revocations is not None:
            jti, grant_id = claims.payload.get("jti"), claims.payload.get("gid")
            # RFC 7009 §2: a token revoked at its issuer opens nothing, however valid it looks.
            if await config.revocations.is_revoked(
                jti if isinstance(jti, str) else None,
                grant_id if isinstance(grant_id, str) else None,
            ):
                raise _refused("revoked", "the token was revoked")
        return principal_from_claims(
            claims, issuer=config.issuer, role_clients=config.role_clients, via=via
        )

    async def verify(
        self,
        token: str,
        keys: IssuerKeys,
        *,
        audience: Collection[str] | None,
        typ: str | None,
        required_claims: Sequence[str],
    ) -> Claims:
        """Verified claims of ``token`` from ``keys``' issuer (ID tokens use this directly)."""
        if not keys.is_current():
            _require_issuer(token, keys)  # no key fetch for a token of another issuer
            await keys.ensure_fresh()
        if self._tasks is not None and keys.needs_background_refresh():
            self._tasks.start_soon(keys.refresh_quietly)
        try:
            return self._verify_once(token, keys, audience, typ, required_claims)
        except UntrustedToken as exc:
            # A token of another issuer fails here, on a key it does not have: said as such,
            # and no refetch for it. Read only on this path (and before a fetch): a valid token
            # is parsed once.
            _require_issuer(token, keys)
            # Key rotation at the issuer: an unknown kid earns one (rate-limited) refetch.
            if not keys.missed or not await keys.refetch_for_unknown_kid():
                raise _refusal_of(exc) from None
        except InvalidToken as exc:
            raise _refusal_of(exc) from None
        try:
            return self._verify_once(token, keys, audience, typ, required_claims)
        except InvalidToken as exc:
            raise _refusal_of(exc) from None

    def _verify_once(
        self,
        token: str,
        keys: IssuerKeys,
        audience: Collection[str] | None,
        typ: str | None,
        required_claims: Sequence[str],
    ) -> Claims:
        keys.missed = False  # verify() is synchronous: nothing else runs until it returns
        config = keys.config
        return verify(
            token,
            keys,
            algorithms=config.algorithms,
            issuer=config.issuer,
            audience=audience,
            typ=typ,
            leeway_s=self.leeway_s,
            clock=self.clock,
            required_claims=required_claims,
        )

    def _issuer_of(self, token: str) -> IssuerKeys:
        if self._only is not None:
            return self._only
        # Routing only: the signature and ``iss`` are checked against this issuer afterwards.
        keys = self.issuers.get(_unverified_issuer(token))
        if keys is None:
            raise _refused("issuer", "token names no trusted issuer")
        return keys

    def clear(self) -> list[str]:
        """Forget every fetched key set; the issuers cleared."""
        for keys in self.issuers.values():
            keys.clear()
        if self.introspector is not None:
            self.introspector.clear()
        return [name for name, keys in self.issuers.items() if keys.config.is_fetched]

    def cache_info(self) -> dict[str, Any]:
        return {name: _key_info(keys) for name, keys in self.issuers.items()}


def _key_info(keys: IssuerKeys) -> Mapping[str, Any]:
    age = keys.age_s()
    return {
        "source": "fetched" if keys.config.is_fetched else "static",
        "ttl": int(keys.ttl_s),
        "current_size": len(keys.kids),
        "keys": list(keys.kids),
        "age_s": round(age, 3) if age is not None else None,
        "hits": keys.stats.hits,
        "misses": keys.stats.misses,
        "fetches": keys.stats.fetches,
        "fetch_failures": keys.stats.failures,
        "suppressed_refetches": keys.stats.suppressed_refetches,
    }


def _require_issuer(token: str, keys: IssuerKeys) -> None:
    """Refuse, as an issuer mismatch, a token that does not claim ``keys``' issuer (unverified:
    only to say why, never to accept)."""
    if _unverified_issuer(token) != keys.config.issuer:
        raise _refused("issuer", f"issuer mismatch: the token's iss is not {keys.config.issuer}")


def _unverified_issuer(token: str) -> str:
    try:
        _header, payload = read_unverified(token)
    except InvalidToken as exc:
        raise _refusal_of(exc) from None
    issuer = payload.get("iss")
    if not isinstance(issuer, str):
        raise _refused("issuer", "token has no iss claim")
    return issuer


def _refused(reason: str, internal: str) -> TokenValidationError:
    error = TokenValidationError(internal=internal)
    error.reason = reason
    return error


def _refusal_of(exc: InvalidToken) -> TokenValidationError | TokenExpiredError:
    """The guard's error for core.jwt's, with the reason its log line gives."""
    if isinstance(exc, TokenExpired):
        return TokenExpiredError(internal=exc.internal)
    internal = exc.internal or ""
    if isinstance(exc, TokenNotForUs):
        # core.jwt names the claim first: "iss is not …", "aud does not …", "typ header …".
        words = {"iss": "issuer", "aud": "audience", "typ": "type"}
        reason = words.get(internal.split(" ", 1)[0], "claims")
    elif isinstance(exc, UntrustedToken):
        reason = "key"  # unknown kid, bad signature, an algorithm not allowed
    elif isinstance(exc, TokenNotYetValid):
        reason = "not_yet_valid"
    elif isinstance(exc, MalformedToken):
        reason = "malformed"
    else:
        reason = "invalid"
    return _refused(reason, internal)


#: What of a refused token's unverified content a log line may show, and how much of it.
_SHOWN_HEADER = ("kid", "alg", "typ")
_SHOWN_CLAIMS = ("iss", "aud", "exp", "azp")
_SHOWN_CHARS = 200


def _described(token: str) -> dict[str, object]:
    """What a refused token claims to be, unverified and cut short, as ``token_*`` fields;
    never the token, its subject or its signature."""
    try:
        header, payload = read_unverified(token)
    except InvalidToken:
        return {}
    shown: dict[str, object] = {}
    for name, source in [
        *((n, header) for n in _SHOWN_HEADER),
        *((n, payload) for n in _SHOWN_CLAIMS),
    ]:
        value = source.get(name)
        if isinstance(value, str):
            shown[f"token_{name}"] = value[:_SHOWN_CHARS]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            shown[f"token_{name}"] = value
        elif isinstance(value, list):
            shown[f"token_{name}"] = [str(v)[:_SHOWN_CHARS] for v in value[:5]]
    return shown
