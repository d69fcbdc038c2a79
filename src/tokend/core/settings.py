"""The core block's settings: signing keys (``TOKEND_KEYS__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SigningAlgorithm = Literal["ES256", "RS256", "EdDSA"]


class KeysSettings(BaseModel):
    access_token_alg: SigningAlgorithm = "ES256"  # noqa: S105  (an algorithm)
    id_token_alg: SigningAlgorithm = "RS256"  # noqa: S105  (an algorithm)
    #: Clock skew accepted on exp/nbf/iat.
    leeway_s: int = Field(default=30, ge=0, le=300)
    #: Cache-Control max-age of the JWKS document.
    jwks_max_age_s: int = Field(default=300, ge=0)
    #: How often each replica re-reads the keyring to pick up rotations made elsewhere.
    refresh_interval_s: float = Field(default=30.0, gt=0)
    #: How long a retired key stays published before an hourly job removes it (tokens it
    #: signed stop verifying). Unset: the shortest safe value, the longest lifetime of any token
    #: the keyring signs (oidc, broker, telco, gateway; 86400 for a client's own lifetime) +
    #: the largest leeway + the refresh interval. A shorter value is refused.
    retired_retention_s: int | None = Field(default=None, ge=1)
