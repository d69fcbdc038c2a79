"""DPoP (RFC 9449) at the provider's endpoints: the request's proof checked by
``core.dpop.verify_proof`` against this issuer's URL of the endpoint, its ``jti`` remembered in
the shared cache (Redis when configured: a proof replayed on another replica is refused)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokend.cache.base import Cache
from tokend.cache.once import first_use
from tokend.core.clock import Clock
from tokend.core.dpop import (
    DPOP_ALGORITHMS,
    DpopNonces,
    DpopProof,
    InvalidDpopProof,
    verify_proof,
)


@dataclass(frozen=True, slots=True)
class _Replays:
    cache: Cache

    async def first_use(self, jti: str, ttl_s: float) -> bool:
        return await first_use(self.cache, "dpop", jti, ttl_s)


@dataclass(frozen=True, slots=True)
class DpopChecks:
    cache: Cache
    clock: Clock
    issuer: str
    #: Set when every proof must carry a server nonce (``oidc.dpop_require_nonce``).
    nonces: DpopNonces | None
    max_age_s: int
    leeway_s: int

    async def proof(
        self,
        headers: Sequence[str],
        method: str,
        path: str,
        access_token: str | None = None,
        algorithms: frozenset[str] = DPOP_ALGORITHMS,
    ) -> DpopProof | None:
        """The request's checked proof; None when it sent none. Raises InvalidDpopProof or
        UseDpopNonce."""
        if not headers:
            return None
        # RFC 9449 §4.3 step 1: exactly one DPoP header.
        if len(headers) > 1:
            raise InvalidDpopProof("send one DPoP proof, not several")
        return await verify_proof(
            headers[0],
            method=method,
            url=f"{self.issuer}{path}",
            clock=self.clock,
            replay=_Replays(self.cache),
            max_age_s=self.max_age_s,
            leeway_s=self.leeway_s,
            access_token=access_token,
            nonces=self.nonces,
            algorithms=algorithms,
        )

    def nonce_headers(self) -> dict[str, str]:
        """RFC 9449 §8.2: a fresh nonce on every response of an endpoint that asks for one."""
        return {"DPoP-Nonce": self.nonces.current()} if self.nonces is not None else {}
