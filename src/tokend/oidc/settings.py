"""Settings of the OpenID provider (``TOKEND_OIDC__*``)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationInfo, field_validator


class RateLimitSettings(BaseModel):
    """Each value is a ``limits`` string such as ``"10/minute"``; empty disables that limit."""

    enabled: bool = True
    login_per_ip: str = "30/minute"
    login_per_account: str = "10/minute"
    token_per_client: str = "100000/minute"  # noqa: S105  (a limit)
    token_per_ip: str = "100000/minute"  # noqa: S105  (a limit)
    password_reset_per_account: str = "3/hour"  # noqa: S105  (a limit)

    @field_validator("*", mode="before")
    @classmethod
    def _parses(cls, value: object, info: ValidationInfo) -> object:
        # The defaults above are valid limits (tests/unit/test_import_cost.py parses them):
        # checking only configured values keeps ``limits`` out of processes that never
        # rate-limit (``--only gateway``), since the CLI re-validates every default it dumps.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, str) and value and (field is None or value != field.default):
            from limits import parse

            parse(value)  # raises ValueError on a malformed limit
        return value


class EmailSettings(BaseModel):
    """Where verification and password-reset mails go."""

    #: ``auto``: the console in demo mode, SMTP when a host is set, nowhere otherwise.
    backend: Literal["auto", "smtp", "console", "disabled"] = "auto"
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    sender: str = "tokend <no-reply@localhost>"
    reset_link_ttl_s: int = Field(default=1800, ge=60)
    verify_link_ttl_s: int = Field(default=86_400, ge=60)


#: The longest access-token or ID-token lifetime one client may be given (admin API); the
#: keyring keeps a retired key at least this long (``Settings.signed_token_lifetimes_s``).
CLIENT_TOKEN_TTL_MAX_S: Final = 86_400


class OidcSettings(BaseModel):
    #: RFC 9700 §4.2: short-lived, one-time authorization codes.
    code_ttl_s: int = Field(default=60, ge=1, le=600)
    access_token_ttl_s: int = Field(default=900, ge=1)
    id_token_ttl_s: int = Field(default=3600, ge=1)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    #: A rotated refresh token presented again within this window returns the same successor
    #: (concurrent requests of one client); after it, the reuse revokes the whole family.
    refresh_grace_s: float = Field(default=10.0, ge=0)
    #: Confidential clients must use PKCE too (public clients always must).
    require_pkce_for_confidential: bool = False
    #: RFC 9700 §2.1.1: ``plain`` is refused unless explicitly allowed.
    allow_plain_pkce: bool = False
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    #: How long a login/consent interaction may take.
    interaction_ttl_s: int = Field(default=600, ge=30)
    #: How long a client looked up for /token is kept in the cache.
    client_cache_ttl_s: float = Field(default=30.0, ge=0)
    #: How long a database answer for introspection and userinfo is cached: an opaque token,
    #: or "not revoked" for a JWT access token. 0: ask the database every time.
    introspection_cache_ttl_s: float = Field(default=5.0, ge=0)
    #: Temporary lockout after this many failed logins of one account.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_s: int = Field(default=900, ge=1)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
