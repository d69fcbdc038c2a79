"""Settings of the broker (``TOKEND_BROKER__*``) and the operator role (``TOKEND_TELCO__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

BrokerAlgorithm = Literal["ES256", "RS256", "EdDSA", "HS256"]
#: The only environment variables a directory file may name as ``${NAME}``: the settings read
#: them into ``broker.directory_secrets``. Never any other ``TOKEND_*`` (the server's own keys).
DIRECTORY_SECRET_PREFIX: Final = "TOKEND_TELCO_SECRET_"  # noqa: S105  (a variable name prefix)


class BrokerSettings(BaseModel):
    #: The telco directory, in the seed's YAML format. Unset: the demo operators in demo mode,
    #: an empty directory otherwise. Admin API changes are written back to this file.
    directory_file: Path | None = None
    #: Reload the directory when its file changes (watchfiles).
    watch_directory: bool = True
    #: Values of the ``${TOKEND_TELCO_SECRET_*}`` references in the directory file, filled from
    #: the environment variables of that prefix. The admin API never resolves a reference.
    directory_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    #: Seed 000 broker.env ``JWT_EXP_SEC=900``; the operator token's lifetime is the upper bound.
    token_ttl_s: int = Field(default=900, ge=1)
    #: ES256 from the keyring by default; HS256 only for seed-compatible clients (``hs256_key``).
    token_alg: BrokerAlgorithm = "ES256"  # noqa: S105  (an algorithm)
    hs256_key: SecretStr | None = None
    #: ``aud`` of broker tokens (their header ``typ`` is ``broker+jwt``): their own audience, so
    #: no verifier of tokend's access tokens takes one. Unset: ``{TOKEND_ISSUER}/broker``.
    token_audience: str | None = None
    #: Seed 000 embeds the raw auth code in the broker token; tokend puts only its hash unless set.
    embed_auth_code: bool = False
    #: Cached tokens expire this long before the token itself.
    cache_margin_s: float = Field(default=30.0, ge=0)
    cache_enabled: bool = True
    #: Seed 000's error answers: 422 with FastAPI's body listing every invalid field (the
    #: seed's messages), an operator's status and raw body relayed (``Telco service error:
    #: <body>``), 500 ``Internal server error`` for an operator's malformed 200. Off: 400 with
    #: the first problem, and an operator's refusal as 401/400 (503 for anything else) without
    #: its words. Unset: on when the broker is served alone (``--only broker``), off otherwise.
    seed_errors: bool | None = None
    #: Upstream timeout for directory entries that do not set ``timeout_s`` (seed: 30 s).
    default_timeout_s: float = Field(default=5.0, gt=0)
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=5, ge=1)
    breaker_reset_after_s: float = Field(default=30.0, gt=0)
    #: Static bearer token for ``/broker/admin/*``, besides the server's ``admin_token`` and
    #: ``tokend:admin`` access tokens (``core.admin_auth``).
    admin_token: SecretStr | None = None

    @model_validator(mode="after")
    def _hs256_needs_a_key(self) -> BrokerSettings:
        if self.token_alg == "HS256" and (  # noqa: S105  (an algorithm)
            self.hs256_key is None or len(self.hs256_key.get_secret_value()) < 32
        ):
            raise ValueError("token_alg HS256 needs hs256_key of at least 32 characters")
        return self
