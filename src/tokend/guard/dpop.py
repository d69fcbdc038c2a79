"""DPoP-bound tokens at a resource server built on the guard (RFC 9449 §7): the request
carries ``Authorization: DPoP <token>`` and a proof (``core.dpop.verify_proof``) of the key the
token's ``cnf.jkt`` names, with ``ath`` hashing the token; a bound token sent as a bearer token
is refused (§7.2). Proof ``jti`` values are remembered in the guard's own replay cache (in
memory, bounded; give a shared :class:`ReplayCache` to cover several processes).

A guard may also require its own server nonces (§9, :func:`guard_nonces`): a proof without one,
or with one from before the previous window, is answered 401 ``use_dpop_nonce`` with a fresh
``DPoP-Nonce`` header. The nonces are stateless (``core.dpop.DpopNonces``), so replicas that
share the secret accept each other's."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from tokend.core.clock import Clock, SystemClock
from tokend.core.dpop import DPOP_ALGORITHMS, DpopNonces, DpopProof, ReplayCache, verify_proof
from tokend.core.errors import OAuthError
from tokend.guard.errors import TokenValidationError


@dataclass
class MemoryReplays:
    """A bounded in-process replay cache: at most ``max_entries`` jti values, each kept for
    its TTL (the oldest dropped first when full)."""

    max_entries: int = 100_000
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    async def first_use(self, jti: str, ttl_s: float) -> bool:
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) <= now:
            self._seen.popitem(last=False)
        expiry = self._seen.get(jti)
        if expiry is not None and expiry > now:
            return False
        self._seen[jti] = now + ttl_s
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True


#: The purpose the guard's nonces are made for: never one of the provider's (``dpop-nonce``).
GUARD_NONCE_PURPOSE = "tokend-guard-dpop-nonce"


def guard_nonces(
    secret: bytes | str | None = None, *, clock: Clock | None = None, window_s: int = 300
) -> DpopNonces:
    """Server nonces for ``Guard(dpop_nonces=...)`` (RFC 9449 §9): rotated every ``window_s``,
    the previous window's still accepted. Without ``secret``, a random one of this process
    (replicas then refuse each other's nonces once, and the client retries with theirs)."""
    if secret is None:
        key = secrets.token_bytes(32)
    else:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < 32:
            raise ValueError("the DPoP nonce secret needs at least 32 bytes")
        # A key of its own: the same secret may also sign the guard's sessions.
        key = hashlib.sha256(b"tokend guard dpop nonces\0" + raw).digest()
    return DpopNonces(key, clock or SystemClock(), window_s, GUARD_NONCE_PURPOSE)


def dpop_challenge(realm: str, error: str, description: str) -> dict[str, str]:
    """RFC 9449 §7.1 ``WWW-Authenticate: DPoP`` challenge."""
    clean = "".join(ch for ch in description if ch not in '"\\' and " " <= ch <= "~")
    return {
        "WWW-Authenticate": f'DPoP realm="{realm}", algs="{" ".join(sorted(DPOP_ALGORITHMS))}", '
        f'error="{error}", error_description="{clean}"'
    }


def bound_key(claims: Mapping[str, object]) -> str | None:
    """The ``cnf.jkt`` a token is bound to (RFC 9449 §6.1), if any."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    return jkt if isinstance(jkt, str) else None


async def check_dpop(
    *,
    scheme: str,
    token: str,
    claims: Mapping[str, object],
    proofs: list[str],
    method: str,
    url: str,
    clock: Clock,
    replay: ReplayCache,
    realm: str,
    max_age_s: int = 60,
    nonces: DpopNonces | None = None,
) -> DpopProof | None:
    """The checked proof of a DPoP request, None for a bearer request of an unbound token;
    TokenValidationError with a DPoP challenge otherwise. ``nonces``: every proof must carry
    one of them (RFC 9449 §9)."""
    jkt = bound_key(claims)
    if scheme == "bearer":
        if jkt is not None:
            raise TokenValidationError(
                "The token is DPoP-bound: use the DPoP scheme with a proof",
                internal="bound token presented as a bearer token",
                headers=dpop_challenge(realm, "invalid_token", "DPoP-bound token"),
            )
        return None
    if len(proofs) != 1:
        raise TokenValidationError(
            "One DPoP proof is required",
            headers=dpop_challenge(realm, "invalid_dpop_proof", "one DPoP proof is required"),
        )
    try:
        proof = await verify_proof(
            proofs[0],
            method=method,
            url=url,
            clock=clock,
            replay=replay,
            max_age_s=max_age_s,
            access_token=token,
            nonces=nonces,
        )
    except OAuthError as exc:
        # RFC 9449 §9: use_dpop_nonce comes with the nonce to retry with (DPoP-Nonce).
        raise TokenValidationError(
            exc.description,
            internal=exc.internal,
            headers={**exc.headers, **dpop_challenge(realm, exc.code, exc.description)},
        ) from None
    if jkt is None or proof.jkt != jkt:
        raise TokenValidationError(
            "The token is not bound to the DPoP proof's key",
            headers=dpop_challenge(realm, "invalid_token", "not bound to this key"),
        )
    return proof
