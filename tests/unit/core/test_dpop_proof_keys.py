"""A client's proofs all carry its one key (RFC 9449 §4.1): the key is imported once and kept
(bounded, least recently used out), while each proof's signature is still checked."""

from __future__ import annotations

import base64

import pytest

from tests.api.oidc.test_dpop import jkt_of, new_key, proof
from tokend.core.clock import SystemClock
from tokend.core.dpop import PROOF_KEYS_KEPT, InvalidDpopProof, _proof_key, verify_proof

URL = "https://issuer.test/token"


class Replay:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def first_use(self, jti: str, ttl_s: float) -> bool:
        fresh = jti not in self.seen
        self.seen.add(jti)
        return fresh


async def test_a_keys_proofs_import_it_once_and_each_signature_is_still_checked() -> None:
    key, replay, clock = new_key(), Replay(), SystemClock()
    before = _proof_key.cache_info()
    for _ in range(3):
        checked = await verify_proof(proof(key, "POST", URL), method="POST", url=URL,
                                     clock=clock, replay=replay)  # fmt: skip
        assert checked.jkt == jkt_of(key)
    after = _proof_key.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 2
    assert after.maxsize == PROOF_KEYS_KEPT
    # The key is known, the signature is not its: refused all the same.
    header, payload, signature = proof(key, "POST", URL).split(".")
    forged = base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode()
    assert forged != signature
    with pytest.raises(InvalidDpopProof):
        await verify_proof(f"{header}.{payload}.{forged}", method="POST", url=URL,
                           clock=clock, replay=replay)  # fmt: skip
