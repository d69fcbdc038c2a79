"""Settings of the guard (``TOKEND_GUARD__*``); seed-002 names are accepted as aliases.

``TOKEND_GUARD__KEYCLOAK_SERVER_URL``, ``..._KEYCLOAK_REALM``, ``..._KEYCLOAK_CLIENT_ID``,
``..._KEYCLOAK_CLIENT_SECRET``, ``..._JWKS_CACHE_TTL``, ``..._ADMIN_TOKEN_CACHE_TTL``,
``..._SESSION_SECRET_KEY`` (and the same upper-case names in a config file's ``guard:`` block).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]

#: Seed 002 default: never accepted in production.
SEED_DEV_SESSION_SECRET = "dev-secret-change-me"  # noqa: S105  (a known-bad value, refused)
MIN_SESSION_SECRET_LENGTH = 32
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _alias(name: str, seed: str) -> AliasChoices:
    return AliasChoices(name, seed, seed.lower())


class IssuerSettings(BaseModel):
    """One more trusted issuer besides tokend itself and the Keycloak realm."""

    issuer: str
    discovery_url: str | None = None
    jwks_uri: str | None = None
    #: A static JWKS document; no fetching.
    jwks: dict[str, Any] | None = None
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["RS256", "ES256"])  # type: ignore[arg-type]  # literals inferred as str
    audiences: list[str] = Field(default_factory=list)
    typ: str | None = None
    required_claims: list[str] = Field(default_factory=lambda: ["exp", "iat", "sub"])
    role_clients: list[str] = Field(default_factory=list)


class GuardSettings(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    #: ``realm`` of the RFC 6750 ``WWW-Authenticate`` challenge.
    realm: str = "tokend"
    #: Accept tokens tokend itself issued (its keyring, no HTTP).
    trust_own_issuer: bool = True
    #: ``aud`` values one of which tokend's own access tokens must name to open the guard.
    #: Empty: the guard's own URL, ``{TOKEND_ISSUER}{prefix}`` (clients ask for it as their
    #: RFC 8707 ``resource``); ``--demo`` also takes ``TOKEND_ISSUER``, its clients' audience.
    own_audiences: list[str] = Field(default_factory=list)
    #: Accept tokend's own access tokens whatever their ``aud``: a token any tokend client got
    #: for any other API then opens the guard too (not recommended).
    own_any_audience: bool = False
    issuers: list[IssuerSettings] = Field(default_factory=list)

    keycloak_server_url: str | None = Field(
        default=None, validation_alias=_alias("keycloak_server_url", "KEYCLOAK_SERVER_URL")
    )
    keycloak_realm: str | None = Field(
        default=None, validation_alias=_alias("keycloak_realm", "KEYCLOAK_REALM")
    )
    client_id: str | None = Field(
        default=None, validation_alias=_alias("client_id", "KEYCLOAK_CLIENT_ID")
    )
    client_secret: SecretStr | None = Field(
        default=None, validation_alias=_alias("client_secret", "KEYCLOAK_CLIENT_SECRET")
    )
    #: ``aud`` values accepted from the Keycloak realm; empty: not checked (seed 002).
    audiences: list[str] = Field(default_factory=list)
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["RS256", "ES256"])  # type: ignore[arg-type]  # literals inferred as str

    jwks_cache_ttl_s: int = Field(
        default=600, ge=0, validation_alias=_alias("jwks_cache_ttl_s", "JWKS_CACHE_TTL")
    )
    #: At most one JWKS refetch per issuer per interval for tokens naming an unknown kid.
    jwks_refetch_interval_s: float = Field(default=30.0, gt=0)
    admin_token_cache_ttl_s: int = Field(
        default=300,
        ge=0,
        validation_alias=_alias("admin_token_cache_ttl_s", "ADMIN_TOKEN_CACHE_TTL"),
    )
    user_info_cache_ttl_s: int = Field(
        default=300, ge=0, validation_alias=_alias("user_info_cache_ttl_s", "USER_INFO_CACHE_TTL")
    )
    group_cache_ttl_s: int = Field(
        default=600, ge=0, validation_alias=_alias("group_cache_ttl_s", "GROUP_CACHE_TTL")
    )
    leeway_s: int = Field(default=30, ge=0, le=300)
    #: RFC 9449 §9: DPoP proofs must carry a nonce the guard gave (401 ``use_dpop_nonce`` with
    #: a ``DPoP-Nonce`` header otherwise); bearer requests of unbound tokens are unaffected.
    dpop_require_nonce: bool = False
    #: The nonces' secret, the same on every replica (each accepts the others' nonces); unset:
    #: derived from tokend's own secret (``TOKEND_SECRET_KEY``), which replicas share too.
    dpop_nonce_secret: SecretStr | None = Field(default=None, min_length=32)
    #: A nonce is good in its window and the next one (so for ``window_s`` to twice that).
    dpop_nonce_window_s: int = Field(default=300, ge=10, le=3600)
    #: Send opaque (non-JWT) bearer tokens to the Keycloak realm's RFC 7662 introspection.
    introspect_opaque_tokens: bool = False
    introspection_cache_ttl_s: float = Field(default=30.0, ge=0)

    session_secret_key: SecretStr | None = Field(
        default=None, validation_alias=_alias("session_secret_key", "SESSION_SECRET_KEY")
    )
    session_ttl_s: int = Field(default=8 * 3600, ge=60)
    session_cookie: str = Field(default="tokend_session", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cookie_secure: bool = True
    login_scope: str = "openid email profile"
    #: Where the issuer sends the browser back; default ``{TOKEND_ISSUER}{prefix}/callback``.
    redirect_uri: str | None = None
    #: Where a finished login lands (a path on this server).
    post_login_path: str = Field(default="/", pattern=r"^/([^/\\].*)?$")
    post_logout_redirect_uri: str | None = None
    #: Role needed for ``/cache/*`` and the admin user lookups.
    admin_role: str = "admin"
    admin_timeout_s: float = Field(default=10.0, gt=0)
    admin_breaker_reset_after_s: float = Field(default=30.0, gt=0)
    #: ``metadata.version`` of every envelope the guard answers: the API version, ``"1.0"`` as
    #: seed 002's (not tokend's package version).
    envelope_version: str = Field(default="1.0", min_length=1, max_length=32)

    @property
    def keycloak_issuer(self) -> str | None:
        if not self.keycloak_server_url or not self.keycloak_realm:
            return None
        return f"{self.keycloak_server_url.rstrip('/')}/realms/{self.keycloak_realm}"

    @property
    def login_enabled(self) -> bool:
        return self.keycloak_issuer is not None and self.client_id is not None

    def production_problems(self) -> list[str]:
        """Why these settings must not serve production traffic (seed 002 settings checks)."""
        problems: list[str] = []
        if self.login_enabled:
            secret = self.session_secret_key.get_secret_value() if self.session_secret_key else ""
            if not secret:
                problems.append("TOKEND_GUARD__SESSION_SECRET_KEY is required in production")
            elif len(secret) < MIN_SESSION_SECRET_LENGTH or secret == SEED_DEV_SESSION_SECRET:
                problems.append(
                    "TOKEND_GUARD__SESSION_SECRET_KEY is too weak "
                    f"(at least {MIN_SESSION_SECRET_LENGTH} random characters)"
                )
            if self.client_secret is None:
                problems.append("TOKEND_GUARD__KEYCLOAK_CLIENT_SECRET is required for login")
            if not self.cookie_secure:
                problems.append("TOKEND_GUARD__COOKIE_SECURE must be true in production")
        url = self.keycloak_server_url
        if url and urlsplit(url).scheme != "https" and urlsplit(url).hostname not in _LOCAL_HOSTS:
            problems.append(f"TOKEND_GUARD__KEYCLOAK_SERVER_URL must use https (got {url})")
        return problems
