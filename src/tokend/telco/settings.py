"""The operator role's settings block (``TOKEND_TELCO__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class TelcoSettings(BaseModel):
    #: Operator id served by ``tokend serve --only telco --telco-id ID``.
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    #: Brokers allowed to call: client_id -> client_secret (seed ``TELECOM_AUTH_CLIENT_CERTS``).
    #: Empty for a demo operator id outside production: the seed's pair for that operator.
    clients: dict[str, SecretStr] = Field(default_factory=dict)
    #: Auth codes accepted; empty: the seed's example codes outside production.
    valid_codes: list[SecretStr] = Field(default_factory=list)
    #: Bearer token of the system allowed to ask for one-time codes (the operator's subscriber
    #: authentication: SMS OTP, network auth...): ``POST /api/demo/codes``. Unset: no such route.
    code_issuer_token: SecretStr | None = None
    #: Lifetime of a one-time code.
    code_ttl_s: int = Field(default=300, ge=1, le=3600)
    #: Seed 000 telco ``JWT_EXP_SEC=600``.
    token_ttl_s: int = Field(default=600, ge=1)
    #: Seed 000 telco ``JWT_KID``: the ``kid`` header of the operator's tokens, under which
    #: ``/api/demo/.well-known/jwks.json`` also lists the current signing key. Unset: the
    #: keyring's own kids. The alias follows the current key: a token signed under it before a
    #: key rotation is found by its kid no longer (the seed had one key and no rotation).
    jwks_kid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
