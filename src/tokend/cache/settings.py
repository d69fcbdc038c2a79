"""The cache blocks: Redis (``TOKEND_REDIS__*``) and the memory tier (``TOKEND_CACHE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class RedisSettings(BaseModel):
    #: Unset: memory only (one process). Set: Redis behind an in-process memory tier.
    url: SecretStr | None = None
    key_prefix: str = "tokend:"
    socket_timeout_s: float = Field(default=0.5, gt=0)
    #: While Redis is down, how long to wait before trying it again.
    retry_interval_s: float = Field(default=2.0, gt=0)


class CacheSettings(BaseModel):
    memory_max_items: int = Field(default=50_000, ge=1)
    #: Upper bound on how long the memory tier keeps a value that also lives in Redis.
    memory_ttl_s: float = Field(default=5.0, gt=0)
