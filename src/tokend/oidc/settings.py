"""Settings of the OpenID provider (``TOKEND_OIDC__*``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from tokend.core.crypto import PasswordHasher


class RateLimitSettings(BaseModel):
    """Each value is a ``limits`` string such as ``"10/minute"``, or several windows joined by
    ``;`` (all apply); empty disables that limit."""

    enabled: bool = True
    #: Sign-in attempts from one address, whatever the account.
    login_per_ip: str = "30/minute"
    #: Failed sign-ins from one address to one account; past them that address waits before
    #: its next attempt is even checked (the stacked windows are the backoff). Other addresses,
    #: the account's owner among them, are not slowed: there is no account lockout, which
    #: would let anyone lock anyone out. Unknown accounts are counted the same way.
    login_failures_per_ip_account: str = "10/minute;30/hour;100/day"
    #: Failed sign-ins to one account from all addresses. Past them the account is under
    #: attack from many addresses, and each address gets ``..._under_attack`` instead: one
    #: guess, not a full allowance. A correct password from an address without recent failures
    #: still signs in.
    login_failures_per_account: str = "20/hour"
    #: Failed sign-ins one address may make to an account that is past the limit above.
    login_failures_per_ip_account_under_attack: str = "1/hour"
    #: Sign-ins one address may start (an /authorize that needs the user): each is a database
    #: row until it expires (``interaction_ttl_s``), so unauthenticated traffic cannot pile
    #: them up. An /authorize answered from an existing session is not counted.
    interactions_per_ip: str = "60/minute"
    token_per_client: str = "100000/minute"  # noqa: S105  (a limit)
    token_per_ip: str = "100000/minute"  # noqa: S105  (a limit)
    password_reset_per_account: str = "3/hour"  # noqa: S105  (a limit)
    #: Wrong second-factor codes (TOTP or recovery) from one address for one user; past them
    #: that address waits (the stacked windows are the backoff). Only someone who knew the
    #: password gets this far, and the owner signing in from elsewhere is never slowed.
    second_factor_failures_per_ip_user: str = "5/minute;20/hour;50/day"
    #: Wrong codes for one user from all addresses; past them each address gets
    #: ``..._under_attack``: one guess, not a full allowance (no lock-out of the owner).
    second_factor_failures_per_user: str = "30/hour"
    second_factor_failures_per_ip_user_under_attack: str = "1/hour"
    #: Dynamic client registrations (RFC 7591) from one address, with or without an initial
    #: access token.
    registration_per_ip: str = "20/hour"
    #: Wrong user codes one address may enter on the device verification page (RFC 8628
    #: §5.1: user codes are short enough to guess); past them it waits. Right ones are free.
    device_user_code_failures_per_ip: str = "10/minute;50/hour"
    #: Self sign-ups (``/sign-up``) from one address, fresh or not (OWASP Authentication Cheat
    #: Sheet: automated account creation is throttled).
    sign_up_per_ip: str = "10/hour"
    #: E-mail changes one user may ask for: each mails a link to an address the user chose.
    email_change_per_user: str = "5/hour"

    @field_validator("*", mode="before")
    @classmethod
    def _parses(cls, value: object, info: ValidationInfo) -> object:
        # The defaults above are valid limits (tests/unit/test_import_cost.py parses them):
        # checking only configured values keeps ``limits`` out of processes that never
        # rate-limit (``--only gateway``), since the CLI re-validates every default it dumps.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, str) and value and (field is None or value != field.default):
            from limits import parse_many

            parse_many(value)  # raises ValueError on a malformed limit
        return value


class EmailSettings(BaseModel):
    """Where verification, password-reset and security-notice mails go."""

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
    #: How long the link that confirms a new address (``/account`` e-mail change) works; a
    #: newer change makes it stop working sooner.
    change_link_ttl_s: int = Field(default=1800, ge=60, le=86_400)
    #: Tell users by mail when their password changes, a sign-in method is added or removed,
    #: recovery codes are made or used (NIST SP 800-63B §6.1.2), or their account signs in
    #: from a browser new to it (``accounts.known_devices_max``); verified addresses only.
    security_notices: bool = True


#: OWASP's minimum for Argon2id: 19 MiB and 2 passes, or as much work (memory * passes)...
ARGON2_MIN_MEMORY_KIB: Final = 19_456
ARGON2_MIN_WORK: Final = ARGON2_MIN_MEMORY_KIB * 2
#: ...with at least this memory (its costliest-in-time option: 7 MiB, 5 passes).
ARGON2_FLOOR_MEMORY_KIB: Final = 7_168


class AccountSettings(BaseModel):
    """What people may do about accounts on their own, and how their passwords are kept."""

    #: Serve ``/sign-up`` and link it from the login page: anyone may create an account, which
    #: starts unverified and is sent a verification link. None: only in demo mode (``tokend
    #: serve --demo``). Off: ``/sign-up`` answers 404.
    self_sign_up: bool | None = None
    #: The browsers remembered per user for the new-device sign-in notice (``known_devices``;
    #: the mail is sent when ``email.security_notices`` is on): the least recently seen are
    #: forgotten first, and a forgotten one counts as new again.
    known_devices_max: int = Field(default=10, ge=1, le=100)
    #: Argon2id's cost for passwords, to be chosen for the hardware (RFC 9106 §4). The defaults
    #: are RFC 9106 §4's second recommended option (64 MiB, 3 passes, 4 lanes); production
    #: refuses less work than OWASP's minimum (``argon2_problems``). A stored hash made with
    #: other values is redone at the user's next sign-in with the password.
    argon2_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_parallelism: int = Field(default=4, ge=1, le=16)

    def argon2_problems(self) -> list[str]:
        """OWASP Password Storage Cheat Sheet, Argon2id: at least 19 MiB with 2 passes, or a
        configuration as costly (memory * passes), never under 7 MiB (its 5-pass option)."""
        work = self.argon2_memory_kib * self.argon2_time_cost
        if work >= ARGON2_MIN_WORK and self.argon2_memory_kib >= ARGON2_FLOOR_MEMORY_KIB:
            return []
        return [
            "TOKEND_OIDC__ACCOUNTS__ARGON2_MEMORY_KIB * TOKEND_OIDC__ACCOUNTS__ARGON2_TIME_COST "
            f"must be at least {ARGON2_MIN_WORK} with at least {ARGON2_FLOOR_MEMORY_KIB} KiB in "
            f"production (got {self.argon2_memory_kib} KiB * {self.argon2_time_cost})"
        ]


#: The longest access-token or ID-token lifetime one client may be given (admin API); the
#: keyring keeps a retired key at least this long (``Settings.signed_token_lifetimes_s``).
CLIENT_TOKEN_TTL_MAX_S: Final = 86_400
#: The longest refresh-token reuse grace, for the setting and for a client.
REFRESH_GRACE_MAX_S: Final = 60


class RegistrationSettings(BaseModel):
    """Dynamic client registration (RFC 7591) and management (RFC 7592): the operator's policy
    for clients that register themselves."""

    #: Serve ``/register`` and advertise ``registration_endpoint``.
    enabled: bool = False
    #: ``initial_token``: a registration needs an initial access token (``tokend clients
    #: initial-token create``); ``open``: anyone may register (each address is rate-limited,
    #: ``rate_limits.registration_per_ip``).
    mode: Literal["open", "initial_token"] = "initial_token"
    #: The grant types a self-registered client may ask for.
    allowed_grant_types: list[str] = Field(
        default_factory=lambda: [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ]
    )
    #: The scopes a self-registered client may ask for.
    allowed_scopes: str = "openid profile email offline_access"
    #: The scope a client that names none gets (RFC 7591 §2 lets the server choose).
    default_scope: str = "openid"
    #: The resources (RFC 8707) a self-registered client's tokens may be for, e.g. an MCP
    #: server's URL; its access tokens name them in ``aud`` when it asks with ``resource``.
    audiences: list[str] = Field(default_factory=list)
    #: The token endpoint authentication methods a self-registered client may use.
    allowed_auth_methods: list[str] = Field(
        default_factory=lambda: ["client_secret_basic", "client_secret_post", "none"]
    )
    #: RFC 7591 §2.3: the JWK Set (JSON text) whose keys sign the software statements this
    #: server trusts; None: a registration with a software statement is refused.
    software_statement_jwks: str | None = None
    #: Refuse registrations without a software statement signed by one of those keys.
    require_software_statement: bool = False

    @field_validator("software_statement_jwks")
    @classmethod
    def _jwks(cls, value: str | None) -> str | None:
        if value is not None:
            from tokend.core.jws_keys import verification_key_from_jwk

            keys = json.loads(value).get("keys")
            if not isinstance(keys, list) or not keys:
                raise ValueError("software_statement_jwks must be a JWK Set with keys")
            for jwk in keys:
                verification_key_from_jwk(jwk)
        return value


class DeviceFlowSettings(BaseModel):
    """The device authorization grant (RFC 8628)."""

    #: How long a device code and its user code are good for (§3.2 ``expires_in``).
    code_ttl_s: int = Field(default=600, ge=60, le=3600)
    #: The polling interval clients are told and held to (§3.2 ``interval``); a poll sooner
    #: gets ``slow_down`` and 5 s more (§3.5).
    interval_s: int = Field(default=5, ge=1, le=60)


class CibaSettings(BaseModel):
    """OpenID Connect Client-Initiated Backchannel Authentication (CIBA Core 1.0), poll and
    ping modes, at ``/backchannel-authentication``."""

    #: How long a request waits for the user when the client asks for no ``requested_expiry``
    #: (CIBA Core §7.3 ``expires_in``).
    request_ttl_s: int = Field(default=300, ge=30, le=3600)
    #: The longest ``requested_expiry`` (§7.1) a client may ask for; longer ones are cut.
    max_request_ttl_s: int = Field(default=1800, ge=30, le=86_400)
    #: The polling interval clients are told and held to (§7.3 ``interval``); a poll sooner
    #: gets ``slow_down`` and 5 s more (§11).
    interval_s: int = Field(default=5, ge=1, le=60)
    #: Serve the approval page ``/ciba``, where the signed-in user approves or denies their
    #: pending requests. None: only in demo mode (``tokend serve --demo``).
    approval_page: bool | None = None
    #: The user's authentication device as a webhook: each new request is POSTed there as
    #: JSON, signed (``Tokend-Signature``, HMAC-SHA256 with ``device_webhook_secret``), with a
    #: one-time decision token the device app sends back to
    #: ``/backchannel-authentication/decisions``. None: no webhook.
    device_webhook_url: str | None = Field(default=None, max_length=2000)
    #: The HMAC key of the device webhook's signature (at least 16 characters); set with
    #: ``device_webhook_url``.
    device_webhook_secret: SecretStr | None = None
    #: How long the device webhook and a ping callback (§10.2) may take to answer.
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("device_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None:
            from tokend.core.outbound import outbound_url

            outbound_url(value)  # the guarded client checks the target's addresses when called
        return value

    @field_validator("device_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("device_webhook_secret must have at least 16 characters")
        return value

    @model_validator(mode="after")
    def _webhook_pair(self) -> CibaSettings:
        if (self.device_webhook_url is None) != (self.device_webhook_secret is None):
            raise ValueError("device_webhook_url and device_webhook_secret go together")
        return self


class TrustedIssuerSettings(BaseModel):
    """An external issuer whose JWTs may be exchanged here (RFC 8693 subject or actor tokens
    of type ``urn:ietf:params:oauth:token-type:jwt``)."""

    issuer: str = Field(min_length=1, max_length=500)
    #: Its JWK Set (JSON text): the keys its JWTs are signed with; or ``jwks_uri``.
    jwks: str | None = Field(default=None, min_length=2)
    #: Where its JWK Set is published (RFC 8414 ``jwks_uri``), fetched through the guarded
    #: outbound client (``TOKEND_HTTP__*``: no private address unless allowed), cached and
    #: refetched when a token names an unknown ``kid`` (at most once per
    #: ``oidc.client_jwks_refetch_interval_s``), as clients' ``jwks_uri`` are.
    jwks_uri: str | None = Field(default=None, min_length=9, max_length=2000)
    #: The ``aud`` its JWTs must carry; None: this provider's issuer URL.
    audience: str | None = None

    @field_validator("jwks")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        from tokend.core.jws_keys import verification_key_from_jwk

        if value is None:
            return None
        keys = json.loads(value).get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("jwks must be a JWK Set with keys")
        for jwk in keys:
            verification_key_from_jwk(jwk)
        return value

    @field_validator("jwks_uri")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("jwks_uri must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuerSettings:
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ValueError("a trusted issuer needs either jwks or jwks_uri, not both")
        return self


class TokenExchangeSettings(BaseModel):
    """Token exchange (RFC 8693) at ``/token``; each client's own policy says what it may
    exchange (admin API ``token_exchange``)."""

    trusted_issuers: list[TrustedIssuerSettings] = Field(default_factory=list)


#: RFC 8176 §2: the registered Authentication Method Reference values. An upstream's ``amr``
#: values are kept only when they are (or map to, ``amr_map``) one of these.
RFC8176_AMR: Final = frozenset(
    {
        "face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pop", "pwd",
        "rba", "retina", "sc", "sms", "swk", "tel", "user", "vbm", "wia",
    }
)  # fmt: skip
GITHUB: Final = "https://github.com"
GITHUB_API: Final = "https://api.github.com"
UpstreamKind = Literal["oidc", "github"]


class UpstreamSettings(BaseModel):
    """One upstream identity provider (identity brokering: ``tokend.oidc.upstreams``): an
    OpenID provider found by discovery, or GitHub. tokend is registered there as a client
    with the redirect URI ``{issuer}/upstream/{id}/callback`` (``brokering.callback_path``)."""

    #: Its name in URLs and in the links table (``[a-z0-9_-]``, at most 32 characters).
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    #: What the buttons say: "Sign in with <name>".
    name: str = Field(min_length=1, max_length=60)
    kind: UpstreamKind = "oidc"
    #: ``oidc``: the issuer, whose metadata is fetched from
    #: ``{issuer}/.well-known/openid-configuration`` (OpenID Connect Discovery §4).
    #: ``github``: the web origin (default ``https://github.com``; GitHub Enterprise Server's own).
    issuer: str | None = None
    #: ``github``: the REST API's base URL (``https://HOST/api/v3`` for Enterprise Server).
    api_url: str = GITHUB_API
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: SecretStr
    #: RFC 6749 §2.3.1: how tokend authenticates at the upstream's token endpoint; None:
    #: ``client_secret_basic`` (oidc), ``client_secret_post`` (github, as its docs show).
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    #: None: ``openid email profile`` (oidc), ``read:user user:email`` (github).
    scopes: list[str] | None = None
    #: Link a first sign-in to the existing account with the same e-mail address, when the
    #: upstream says the address is verified. Off by default: only for upstreams trusted to
    #: verify addresses (an upstream that lets anyone claim any address would hand accounts
    #: over). Without it, such a user signs in with their password and links on /account/linked.
    link_by_verified_email: bool = False
    #: Accounts created at a first sign-in (no account has the address): off refuses them.
    create_accounts: bool = True
    #: The upstream's ``acr`` values and the tokend ``acr`` each counts as
    #: (``urn:tokend:acr:password`` or ``urn:tokend:acr:mfa``); unlisted ones count as the
    #: password level.
    acr_map: dict[str, str] = Field(default_factory=dict)
    #: The upstream's own ``amr`` values and the RFC 8176 §2 value each stands for; values
    #: that are RFC 8176 names already are kept as they are, others are dropped.
    amr_map: dict[str, str] = Field(default_factory=dict)
    #: RFC 8176 values of a sign-in whose upstream names no usable method.
    default_amr: list[str] = Field(default_factory=lambda: ["pwd"], min_length=1)

    @field_validator("issuer", "api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            from tokend.core.outbound import outbound_url

            outbound_url(value)  # the guarded client checks its addresses when called
        return value

    @field_validator("acr_map")
    @classmethod
    def _acr_targets(cls, value: dict[str, str]) -> dict[str, str]:
        from tokend.oidc.authn_context import ACR_VALUES

        wrong = sorted(set(value.values()) - set(ACR_VALUES))
        if wrong:
            raise ValueError(f"acr_map maps to {wrong}: only {' or '.join(ACR_VALUES)}")
        return value

    @field_validator("amr_map")
    @classmethod
    def _amr_targets(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(set(value.values()) - RFC8176_AMR)
        if wrong:
            raise ValueError(f"amr_map maps to {wrong}, which are not RFC 8176 §2 values")
        return value

    @field_validator("default_amr")
    @classmethod
    def _default_amr(cls, value: list[str]) -> list[str]:
        wrong = sorted(set(value) - RFC8176_AMR)
        if wrong:
            raise ValueError(f"default_amr has {wrong}, which are not RFC 8176 §2 values")
        return value

    @model_validator(mode="after")
    def _kind(self) -> UpstreamSettings:
        if self.kind == "oidc":
            if self.issuer is None:
                raise ValueError(f"upstream {self.id}: an oidc upstream needs its issuer")
            if self.scopes is not None and "openid" not in self.scopes:
                raise ValueError(f"upstream {self.id}: scopes must include openid")
        return self

    @property
    def auth_method(self) -> Literal["client_secret_basic", "client_secret_post"]:
        if self.token_endpoint_auth_method is not None:
            return self.token_endpoint_auth_method
        return "client_secret_basic" if self.kind == "oidc" else "client_secret_post"

    @property
    def requested_scopes(self) -> list[str]:
        if self.scopes is not None:
            return self.scopes
        if self.kind == "oidc":
            return ["openid", "email", "profile"]
        return ["read:user", "user:email"]

    @property
    def origin(self) -> str:
        """The issuer (oidc) or the web origin (github)."""
        return self.issuer or GITHUB


def unique_upstreams(upstreams: list[UpstreamSettings]) -> list[UpstreamSettings]:
    """The list, once no two upstreams share an id."""
    ids = [u.id for u in upstreams]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ValueError(f"upstream ids must be unique: {doubled}")
    return upstreams


#: FAPI 2.0 SP §5.4.1-1: the JWS algorithms allowed (of those tokend signs with, ES256 and EdDSA).
FAPI_ALGORITHMS: Final = frozenset({"PS256", "ES256", "EdDSA"})


class OidcSettings(BaseModel):
    #: A user's grant (code, device, CIBA, refresh, exchange) has ``tokend:admin`` only if the user
    #: holds this role, realm-wide or on the built-in ``tokend-console`` client (that client
    #: only); for anyone else the scope is dropped, whatever the client may ask for
    #: (``oidc.admin_scope``).
    admin_scope_role: str = Field(default="admin", min_length=1, max_length=100)
    #: RFC 9700 §4.2: short-lived, one-time authorization codes.
    code_ttl_s: int = Field(default=60, ge=1, le=600)
    #: At most a day, like a client's own lifetime: a revoked grant is denied by a deny-list
    #: entry that must outlive every access token of the grant, and it is kept exactly that
    #: long (``revocations.tokens_expire_by``). Capped rather than derived, so no setting can
    #: make revocations silently expire first; RFC 6819 §5.1.5.3: short-lived access tokens.
    access_token_ttl_s: int = Field(default=900, ge=1, le=CLIENT_TOKEN_TTL_MAX_S)
    id_token_ttl_s: int = Field(default=3600, ge=1)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=1)
    #: RFC 9700 §4.14.2: a rotated refresh token presented again revokes its whole family at
    #: once (0, the default). A grace of N seconds instead answers a reuse within N s with the
    #: live successor, which spares a client that sent two refreshes at once (two tabs, a retry)
    #: the loss of its grant, but hands the successor to whoever presents a stolen, rotated token
    #: inside the window and detects the theft only after it. Confidential clients only (a
    #: thief also needs their secret); public clients never get one. A client's own
    #: ``refresh_grace_s`` (admin API) overrides this.
    refresh_grace_s: float = Field(default=0.0, ge=0, le=REFRESH_GRACE_MAX_S)
    #: Confidential clients must use PKCE too (public clients always must).
    require_pkce_for_confidential: bool = False
    #: RFC 9700 §2.1.1: ``plain`` is refused unless explicitly allowed.
    allow_plain_pkce: bool = False
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    #: How long a login/consent interaction may take.
    interaction_ttl_s: int = Field(default=600, ge=30)
    #: How long a client looked up for /token is kept in the cache.
    client_cache_ttl_s: float = Field(default=30.0, ge=0)
    #: How long the database's answer about an opaque access token is cached for introspection
    #: and userinfo. 0: ask the database every time. (Whether a token was revoked is cached
    #: ``keys.revocation_check_ttl_s``: every surface asks that one deny-list.)
    introspection_cache_ttl_s: float = Field(default=5.0, ge=0)
    #: OIDC Core §8.1: the salt of pairwise subject identifiers; clients with
    #: ``subject_type`` ``pairwise`` need it. Never change it: every pairwise subject would.
    pairwise_salt: SecretStr | None = None
    #: The FAPI 2.0 Security Profile for every client (``oidc/fapi.py`` lists what it
    #: enforces: PAR, PKCE S256, DPoP, private_key_jwt, PS256/ES256/EdDSA, 60 s codes); a
    #: client's own ``fapi2_profile`` asks it of that client alone. Either needs
    #: ``keys.id_token_alg`` ES256 or EdDSA: the provider's own signatures (ID tokens, JARM,
    #: JWT introspection responses, logout tokens) are FAPI 2.0 SP §5.4.1-1's too.
    fapi2: bool = False
    #: RFC 9126 §6: every authorization request must be pushed first (PAR); a client's own
    #: ``require_pushed_authorization_requests`` asks it of that client alone.
    require_pushed_authorization_requests: bool = False
    #: RFC 9126 §2.2: how long a pushed request's ``request_uri`` is valid (one use).
    par_ttl_s: int = Field(default=60, ge=5, le=60)
    #: RFC 9449 §8: every DPoP proof must carry a server nonce (``DPoP-Nonce``, rotated every
    #: five minutes; any replica accepts any replica's).
    dpop_require_nonce: bool = False
    #: RFC 9449 §11.1: how old a DPoP proof's ``iat`` may be.
    dpop_proof_max_age_s: int = Field(default=60, ge=5, le=300)
    #: RFC 7523 §3: how far in the future a client assertion's ``exp`` may be (private_key_jwt,
    #: client_secret_jwt). Its ``jti`` is remembered that long to refuse a replay.
    client_assertion_max_lifetime_s: int = Field(default=300, ge=10, le=3600)
    #: How long a client's key set fetched from its ``jwks_uri`` is used before it is fetched
    #: again; an unknown ``kid`` refetches it sooner, at most once per
    #: ``client_jwks_refetch_interval_s`` (a failed fetch also waits that long).
    client_jwks_cache_ttl_s: float = Field(default=300.0, ge=0)
    client_jwks_refetch_interval_s: float = Field(default=60.0, ge=1)
    #: How long a ``jwks_uri`` may take to answer.
    client_jwks_timeout_s: float = Field(default=5.0, gt=0, le=30)
    #: How many ``jwks_uri`` key sets one process keeps (least recently used out first).
    client_jwks_cache_entries: int = Field(default=1000, ge=1)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    accounts: AccountSettings = Field(default_factory=AccountSettings)
    registration: RegistrationSettings = Field(default_factory=RegistrationSettings)
    device: DeviceFlowSettings = Field(default_factory=DeviceFlowSettings)
    token_exchange: TokenExchangeSettings = Field(default_factory=TokenExchangeSettings)
    ciba: CibaSettings = Field(default_factory=CibaSettings)
    #: Upstream identity providers users may sign in with ("Sign in with ..." on the login
    #: page) and link to their account (``/account/linked``).
    upstreams: list[UpstreamSettings] = Field(default_factory=list)
    #: How long a redirect to an upstream may take to come back (its ``state`` is kept that
    #: long, used once).
    upstream_state_ttl_s: int = Field(default=600, ge=30, le=3600)
    #: How long an upstream's discovery document is kept.
    upstream_metadata_ttl_s: float = Field(default=3600.0, ge=0)
    #: How long an upstream may take to answer one request.
    upstream_timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("upstreams")
    @classmethod
    def _unique_upstreams(cls, value: list[UpstreamSettings]) -> list[UpstreamSettings]:
        return unique_upstreams(value)


def password_hasher(accounts: AccountSettings) -> PasswordHasher:
    """The password hasher with the configured Argon2id costs."""
    # Imported here: loading the settings loads no framework code (tests/unit/test_import_cost).
    from tokend.core.crypto import PasswordHasher

    return PasswordHasher.argon2id(
        accounts.argon2_memory_kib, accounts.argon2_time_cost, accounts.argon2_parallelism
    )
