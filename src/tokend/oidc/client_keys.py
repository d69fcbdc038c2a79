"""The public keys a client signs its assertions with (RFC 7523 §2.2, OIDC Core §9): its
registered ``jwks``, or its ``jwks_uri`` fetched through the guarded HTTP client; and the
``jwks_uri`` of the external issuers token exchange trusts (``exchange_tokens``).

Fetched sets are cached ``ttl_s`` in this process (bounded to ``max_entries`` URIs, least
recently used out first) and refetched when an assertion names an unknown ``kid`` -- at most
once per ``refetch_interval_s`` per URI, so forged kids cannot make tokend flood the client's
server, nor a slow or failing ``jwks_uri`` hold up every request (failures are remembered for
the same interval). A ``jwks_uri`` at a private address is refused by the outbound policy
(``TOKEND_HTTP__*``) unless allowed there.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import httpx

from tokend.core.clock import Clock
from tokend.core.errors import InvalidClient
from tokend.core.http import GuardedClient
from tokend.core.jwt import VerificationKey
from tokend.oidc.client_metadata import jwk_set
from tokend.oidc.records import Client


class ClientKeysUnavailable(InvalidClient):
    default_description = "The client's keys could not be obtained."


@dataclass(frozen=True, slots=True)
class KeySet:
    """A KeySource over one JWK Set."""

    keys: dict[str, VerificationKey]

    def find(self, kid: str) -> VerificationKey | None:
        return self.keys.get(kid)


@dataclass(slots=True)
class _Fetched:
    keys: KeySet | None
    fetched_at: float
    attempted_at: float


@lru_cache(maxsize=256)
def _registered(jwks: str) -> KeySet:
    """A registered JWK Set parsed once (the client record's JSON text is the key)."""
    try:
        return KeySet(jwk_set(json.loads(jwks)))
    except ValueError:
        return KeySet({})


@dataclass(slots=True)
class ClientKeys:
    http: GuardedClient
    clock: Clock
    ttl_s: float
    refetch_interval_s: float
    timeout_s: float
    max_entries: int = 1000
    _fetched: OrderedDict[str, _Fetched] = field(default_factory=OrderedDict)

    async def for_client(self, client: Client, kid: str | None) -> KeySet:
        """The client's keys, refreshed when ``kid`` is not among them (rate-limited)."""
        if client.jwks is not None:
            # The JSON text is the cache key of the parsed set (a Mapping is not hashable).
            return _registered(json.dumps(client.jwks, sort_keys=True, separators=(",", ":")))
        if client.jwks_uri is None:
            raise ClientKeysUnavailable(internal="client has neither jwks nor jwks_uri")
        return await self.from_uri(client.jwks_uri, kid)

    async def from_uri(self, uri: str, kid: str | None) -> KeySet:
        """The JWK Set at ``uri`` (a client's, a trusted issuer's for token exchange, an
        upstream identity provider's), refreshed when ``kid`` is not among its keys
        (rate-limited); ClientKeysUnavailable."""
        now = self.clock.monotonic()
        entry = self._fetched.get(uri)
        if entry is not None:
            self._fetched.move_to_end(uri)
            fresh = now - entry.fetched_at < self.ttl_s
            known = entry.keys is not None and (kid is None or kid in entry.keys.keys)
            may_retry = now - entry.attempted_at >= self.refetch_interval_s
            if (fresh and known) or not may_retry:
                if entry.keys is None:
                    raise ClientKeysUnavailable(internal="jwks_uri failed recently")
                return entry.keys
        return await self._fetch(uri, entry, now)

    async def _fetch(self, uri: str, entry: _Fetched | None, now: float) -> KeySet:
        if entry is None:
            entry = _Fetched(None, float("-inf"), now)
            self._fetched[uri] = entry
            while len(self._fetched) > self.max_entries:
                self._fetched.popitem(last=False)
        entry.attempted_at = now  # before the await: concurrent misses do not fetch again
        try:
            response = await self.http.get(
                uri, timeout=self.timeout_s, headers={"Accept": "application/json"}
            )
            if response.status_code != 200:
                raise ValueError(f"status {response.status_code}")
            keys = KeySet(jwk_set(response.json()))
        except (httpx.HTTPError, ValueError) as exc:
            if entry.keys is not None:
                return entry.keys  # keep the last good set while the client's server is down
            raise ClientKeysUnavailable(
                "the client's jwks_uri could not be fetched", internal=str(exc)[:200]
            ) from None
        entry.keys, entry.fetched_at = keys, now
        return keys
