"""Settings of the API-key → JWT gateway (``TOKEND_GATEWAY__*``), seed 004's environment.

Seed variable → setting: ``KONG_MODE`` → ``kong_mode``, ``KONG_ADMIN_URL`` → ``kong_admin_url``,
``KONG_ADMIN_TOKEN`` → ``kong_admin_token``, ``KONG_JWT_ISSUER``/``KONG_JWT_AUTHORITY`` →
``issuer``, ``KONG_JWT_AUDIENCE`` → ``audience``, ``JWT_EXPIRATION_MINUTES`` → ``token_ttl_s``,
``KONG_MAX_HEADER_LENGTH`` → ``max_header_length``, ``CIRCUIT_BREAKER_*`` → ``breaker_*``,
``HIGH_AVAILABILITY`` → ``high_availability``, ``STALE_DATA_TOLERANCE_MINUTES`` →
``stale_tolerance_s``.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

GatewaySource = Literal["kong", "local"]
KongMode = Literal["API_GATEWAY", "KONNECT"]
GatewayAlgorithm = Literal["HS256", "ES256"]


class StaticConsumer(BaseModel):
    """A standalone consumer declared in settings (created at start-up when missing)."""

    username: str = Field(min_length=1, max_length=256)
    api_key: SecretStr


class GatewaySettings(BaseModel):
    #: ``kong``: Kong authenticates the API key and forwards consumer headers, secrets come from
    #: the Kong Admin API / Konnect. ``local``: tokend stores consumers and checks API keys.
    source: GatewaySource = "kong"
    kong_mode: KongMode = "API_GATEWAY"
    #: API_GATEWAY: ``http://kong-admin:8001``; KONNECT: the control-plane URL,
    #: ``https://<region>.api.konghq.com/v2/control-planes/<id>``.
    kong_admin_url: str = "http://127.0.0.1:8001"
    #: API_GATEWAY: sent as ``Kong-Admin-Token``; KONNECT: the personal access token (bearer).
    kong_admin_token: SecretStr | None = None
    #: Create a JWT credential for a consumer that has none (seed: createConsumerSecret).
    create_missing_credentials: bool = False
    kong_timeout_s: float = Field(default=5.0, gt=0)
    #: Seed: 2 attempts, 100 ms apart, for connection errors and 5xx (the call is a GET).
    kong_attempts: int = Field(default=2, ge=1, le=5)
    kong_retry_backoff_s: float = Field(default=0.1, ge=0)

    #: ``HS256``: seed format, signed with the consumer's Kong JWT secret. ``ES256``: signed by
    #: tokend's keyring, verifiable from ``/.well-known/jwks.json`` without a shared secret.
    token_alg: GatewayAlgorithm = "HS256"  # noqa: S105  (an algorithm)
    #: Seed ``JWT_EXPIRATION_MINUTES=15``.
    token_ttl_s: int = Field(default=900, ge=1, le=86_400)
    #: ``iss`` claim; the seed takes the first of a comma-separated list.
    issuer: str = "https://api.example.com"
    #: Kong's jwt plugin looks the credential up by ``key_claim_name`` (default ``iss``): set
    #: this to put the credential key into ``iss`` instead of ``issuer``.
    issuer_is_credential_key: bool = False
    audience: list[str] = Field(default_factory=lambda: ["example-api"])

    consumer_id_header: str = "x-consumer-id"
    consumer_username_header: str = "x-consumer-username"
    anonymous_header: str = "x-anonymous-consumer"
    #: Seed ``KONG_MAX_HEADER_LENGTH``: a longer consumer header is a 400 AUTH_007.
    max_header_length: int = Field(default=256, ge=1, le=8192)
    #: Kong mode believes consumer headers only with ``proxy_secret`` in ``proxy_secret_header``
    #: (Kong adds it, e.g. with its request-transformer plugin) and, when these networks are
    #: set, only from a TCP peer in them (Kong's addresses; never the forwarded client). Set
    #: alone, addresses are the only check: production warns. Neither set: nothing is believed.
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    #: The shared secret Kong sends in ``proxy_secret_header`` (at least 16 characters).
    proxy_secret: SecretStr | None = None
    proxy_secret_header: str = "x-gateway-secret"  # noqa: S105  (a header name)

    #: Secrets younger than this are used without asking the source (seed: 300 s).
    cache_ttl_s: float = Field(default=300.0, gt=0)
    #: Standalone consumers are re-read this often, so revocation reaches every replica.
    local_cache_ttl_s: float = Field(default=30.0, gt=0)
    #: While the source is down, older secrets are still used up to this age (seed: 30 min).
    stale_tolerance_s: float = Field(default=1800.0, ge=0)
    #: Seed ``HIGH_AVAILABILITY``: with Redis, the stale tolerance becomes ``ha_stale_tolerance_s``.
    high_availability: bool = False
    ha_stale_tolerance_s: float = Field(default=7200.0, ge=0)

    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=3, ge=1)
    breaker_reset_after_s: float = Field(default=60.0, gt=0)

    #: Tokens per consumer per minute (AUTH_006); unset: no limit (Kong usually limits).
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    #: Standalone consumers declared here are created at start-up when missing.
    consumers: list[StaticConsumer] = Field(default_factory=list)
    #: Origins whose browsers may call ``/tokens`` (seed 004's CORS middleware; ``*``: any).
    #: Preflights (``OPTIONS``) are answered 204 for the token routes. Unset: ``["*"]`` as the
    #: seed when the gateway is served alone (``--only gateway``), none in the all-in-one app.
    cors_origins: list[str] | None = None
    #: Timeout of the Kong Admin API ``GET /status`` that ``/health`` makes (seed: 1 s).
    health_timeout_s: float = Field(default=1.0, gt=0)
    #: Static bearer token for ``/gateway/admin/consumers``, besides the server's ``admin_token``
    #: and ``tokend:admin`` access tokens (``core.admin_auth``).
    admin_token: SecretStr | None = None

    @field_validator("issuer")
    @classmethod
    def _first_issuer(cls, value: str) -> str:
        first = value.split(",")[0].strip()
        if not first:
            raise ValueError("must name an issuer")
        return first

    @field_validator("audience", mode="before")
    @classmethod
    def _split_audience(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("consumer_id_header", "consumer_username_header", "anonymous_header")
    @classmethod
    def _lower_header(cls, value: str) -> str:
        return value.lower()

    @field_validator("proxy_secret_header")
    @classmethod
    def _lower_secret_header(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _proxy_secret_is_strong(self) -> GatewaySettings:
        if self.proxy_secret is not None and len(self.proxy_secret.get_secret_value()) < 16:
            raise ValueError("proxy_secret must be at least 16 characters")
        return self

    def stale_tolerance(self, *, has_redis: bool) -> float:
        """How old a cached secret may be while the source is down."""
        if self.high_availability and has_redis:
            return max(self.stale_tolerance_s, self.ha_stale_tolerance_s)
        return self.stale_tolerance_s

    def production_problems(self) -> list[str]:
        """Why this block must not serve production (hooked into ``Settings``)."""
        if self.source != "kong" or self.kong_mode != "KONNECT":
            return []
        problems: list[str] = []
        if urlsplit(self.kong_admin_url).scheme != "https":
            problems.append("TOKEND_GATEWAY__KONG_ADMIN_URL must use https for Konnect")
        if self.kong_admin_token is None:
            problems.append(
                "TOKEND_GATEWAY__KONG_ADMIN_TOKEN (a Konnect personal access token) is not set"
            )
        return problems
