"""One-time auth codes the operator role issues itself for its subscribers.

A code is bound to one subscriber (``mcc`` + ``sn``), lives ``ttl_s`` seconds and is accepted
once. Codes live in the spine's cache under a hash of code and subscriber (never the code
itself); with Redis, single use holds across replicas because the first use is decided by an
atomic ``INCR``. When Redis is down the cache falls back to memory, so a code is then single-use
per replica only — the same degradation every cached value accepts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Final

from tokend.cache.base import Cache
from tokend.core.crypto import random_secret

CODE_BYTES: Final = 24


class OneTimeCodes:
    def __init__(self, operator_id: str, cache: Callable[[], Cache], ttl_s: int) -> None:
        self._operator_id = operator_id
        self._cache = cache
        self.ttl_s = ttl_s

    async def issue(self, mcc: str, sn: str) -> str:
        code = random_secret(CODE_BYTES)
        await self._cache().set(self._key(code, mcc, sn), b"1", ttl_s=self.ttl_s)
        return code

    async def consume(self, code: str, mcc: str, sn: str) -> bool:
        """True exactly once for a live code issued to this subscriber."""
        cache = self._cache()
        key = self._key(code, mcc, sn)
        if await cache.get(key) is None:
            return False
        return await cache.incr(f"{key}:used", 1, ttl_s=self.ttl_s) == 1

    def _key(self, code: str, mcc: str, sn: str) -> str:
        digest = hashlib.sha256("\x1f".join((code, mcc, sn)).encode()).hexdigest()
        return f"telco:{self._operator_id}:otc:{digest}"
