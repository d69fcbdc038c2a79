"""One-time values shared by every replica: a client assertion's or a DPoP proof's ``jti``, a
pushed request's ``request_uri``. The first ``first_use`` of a key wins; later ones, on any
replica sharing the cache (Redis when configured), see it used until ``ttl_s`` passes.

``incr`` is the primitive: atomic in Redis (INCR), and in the memory tier of one process.
"""

from __future__ import annotations

import hashlib

from tokend.cache.base import Cache


async def first_use(cache: Cache, namespace: str, value: str, ttl_s: float) -> bool:
    """True the first time ``value`` is used in ``namespace``; False on a replay. The value is
    hashed into the key: its length and characters are the caller's to choose."""
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return await cache.incr(f"once:{namespace}:{digest}", 1, max(ttl_s, 1.0)) == 1
