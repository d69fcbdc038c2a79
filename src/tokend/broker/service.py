"""Seed 000 two-phase flow: route by prefix, get the operator's token, mint the broker token.

Caching: operator and broker tokens are cached under hashes that include the auth
code's hash (the seed served one cached token for any code); TTL = remaining lifetime minus a
margin; writes run in the background so they never delay the answer; concurrent identical
requests share one upstream call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.directory.lookup import Directory
from tokend.broker.errors import TelcoNotFound, UpstreamFailed, UpstreamRejected
from tokend.broker.metrics import BrokerMetrics, CacheKind
from tokend.broker.operator_client import OperatorClient
from tokend.broker.settings import BrokerSettings
from tokend.broker.tokens import BrokerToken, BrokerTokenMinter
from tokend.broker.upstream import OperatorToken, code_hash
from tokend.cache.base import Cache
from tokend.core.clock import Clock
from tokend.core.errors import BadRequest, NotFound, ServiceUnavailable
from tokend.core.phone_numbers import digits_of_number, digits_of_query

T = TypeVar("T")

MAX_AUTH_CODE_CHARS = 2048


class SingleFlight(Protocol):
    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` once for concurrent callers with the same key; all get its result."""
        ...


class Background(Protocol):
    def start_soon(self, func: Callable[[], Coroutine[Any, Any, None]]) -> object:
        """Run ``func`` after the caller returns (an anyio task group)."""
        ...


@dataclass(frozen=True, slots=True)
class FoundOperator:
    """The Telco Finder's answer: who serves a number and where its APIs and tokens are."""

    operator_id: str
    api_root: str
    token_endpoint: str
    #: OpenID Connect Discovery document of an OAuth operator; None for a seed operator.
    openid_configuration: str | None


class TelcoFinder:
    """GSMA Open Gateway Telco Finder over the directory (``phoneNumber`` search only)."""

    def __init__(self, directory: Callable[[], Directory]) -> None:
        self._directory = directory

    def find(self, phone_number: str | None) -> FoundOperator:
        """The enabled operator serving ``phone_number``; BadRequest or NotFound otherwise."""
        if phone_number is None:
            raise BadRequest("phoneNumber is required")
        entry = self._directory().operator_for_number(digits_of_number(phone_number))
        if entry is None or not entry.enabled:
            raise NotFound("No operator serves this phone number")
        discovery = (
            f"{entry.base_url}/.well-known/openid-configuration"
            if entry.adapter == "oauth2"
            else None
        )
        return FoundOperator(entry.operator_id, entry.base_url, entry.token_url, discovery)


class BrokerService:
    def __init__(
        self,
        *,
        directory: Callable[[], Directory],
        operators: OperatorClient,
        minter: BrokerTokenMinter,
        cache: Cache,
        flights: SingleFlight,
        background: Background,
        settings: BrokerSettings,
        metrics: BrokerMetrics,
        clock: Clock,
    ) -> None:
        self._directory = directory
        self._operators = operators
        self._minter = minter
        self._cache = cache
        self._flights = flights
        self._background = background
        self._settings = settings
        self._metrics = metrics
        self._clock = clock

    async def issue(self, mcc: str | None, sn: str | None, auth_code: str | None) -> BrokerToken:
        """The broker token for this subscriber and code (seed 000 ``POST /api/demo/token``)."""
        digits = digits_of_query(mcc, sn)
        assert mcc is not None  # digits_of_query checked it
        assert sn is not None
        if not auth_code or len(auth_code) > MAX_AUTH_CODE_CHARS:
            raise BadRequest("auth_code is required (at most 2048 characters)")
        entry = self._directory().longest_prefix(digits)
        if entry is None:
            self._metrics.count_token("none", "not_found")
            raise TelcoNotFound()
        if not entry.enabled:
            self._metrics.count_token(entry.operator_id, "unavailable")
            raise UpstreamFailed(internal=f"{entry.operator_id} is disabled")
        if not entry.checks_subscriber:
            # The directory refuses such entries; one built any other way mints nothing either.
            self._metrics.count_token(entry.operator_id, "unavailable")
            raise UpstreamFailed(internal=f"{entry.operator_id} cannot check subscribers")
        key = self._key("broker", entry, mcc, sn, auth_code)
        cached = await self._cached(key, "broker")
        if cached is not None:
            self._metrics.count_token(entry.operator_id, "cached")
            return BrokerToken(cached.access_token, cached.issued_at, cached.expires_at)
        try:
            token = await self._flights.run(
                key, lambda: self._issue_fresh(key, entry, mcc, sn, auth_code)
            )
        except UpstreamRejected:
            self._metrics.count_token(entry.operator_id, "rejected")
            raise
        except ServiceUnavailable:
            self._metrics.count_token(entry.operator_id, "unavailable")
            raise
        self._metrics.count_token(entry.operator_id, "issued")
        return token

    async def _issue_fresh(
        self, key: str, entry: TelcoEntry, mcc: str, sn: str, auth_code: str
    ) -> BrokerToken:
        operator_key = self._key("operator", entry, mcc, sn, auth_code)
        operator_token = await self._cached(operator_key, "operator")
        if operator_token is None:
            operator_token = await self._operators.fetch(entry, mcc, sn, auth_code)
            self._store(operator_key, operator_token)
        token = self._minter.mint(
            entry=entry,
            mcc=mcc,
            sn=sn,
            auth_code=auth_code,
            operator_token=operator_token,
            now=self._clock.now(),
        )
        self._store(key, OperatorToken(token.access_token, token.issued_at, token.expires_at))
        return token

    def _key(self, kind: CacheKind, entry: TelcoEntry, mcc: str, sn: str, auth_code: str) -> str:
        # Never a raw code or secret in a key: a hash over everything that makes the token.
        parts = (
            entry.operator_id,
            entry.prefix,
            entry.client_id,
            entry.token_url,
            mcc,
            sn,
            code_hash(auth_code),
            self._settings.token_alg if kind == "broker" else "",
            "embed" if kind == "broker" and self._settings.embed_auth_code else "",
        )
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        return f"broker:{kind}:{digest}"

    async def _cached(self, key: str, kind: CacheKind) -> OperatorToken | None:
        if not self._settings.cache_enabled:
            return None
        raw = await self._cache.get(key)
        token = _decode(raw) if raw is not None else None
        if token is not None and token.expires_at <= self._clock.now():
            token = None
        self._metrics.count_cache(kind, hit=token is not None)
        return token

    def _store(self, key: str, token: OperatorToken) -> None:
        if not self._settings.cache_enabled:
            return
        remaining_s = (token.expires_at - self._clock.now()).total_seconds()
        ttl_s = remaining_s - self._settings.cache_margin_s
        if ttl_s < 1:
            return
        value = _encode(token)

        async def write() -> None:
            await self._cache.set(key, value, ttl_s=ttl_s)

        self._background.start_soon(write)


def _encode(token: OperatorToken) -> bytes:
    body = {
        "access_token": token.access_token,
        "iat": token.issued_at.timestamp(),
        "exp": token.expires_at.timestamp(),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _decode(raw: bytes) -> OperatorToken | None:
    try:
        body = json.loads(raw)
        return OperatorToken(
            str(body["access_token"]),
            datetime.fromtimestamp(float(body["iat"]), UTC),
            datetime.fromtimestamp(float(body["exp"]), UTC),
        )
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable entry is a miss; the fresh token overwrites it
