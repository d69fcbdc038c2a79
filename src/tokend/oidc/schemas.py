"""Request and response bodies of the admin API (and the CLI, which shares them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tokend.core.errors import OAuthError
from tokend.core.outbound import OutboundRefusal, outbound_url
from tokend.oidc.client_metadata import (
    CIBA_GRANT,
    DESCRIPTIVE,
    FIELDS,
    check_ciba_metadata,
    check_client_jwks,
    check_key_metadata,
    check_request_object_metadata,
)
from tokend.oidc.cors import web_origin_problem
from tokend.oidc.records import (
    AuthMethod,
    Client,
    ClientSource,
    RoleClaimShape,
    TokenExchangePolicy,
    TokenFormat,
    User,
)
from tokend.oidc.redirect_uris import redirect_uri_problem
from tokend.oidc.settings import CLIENT_TOKEN_TTL_MAX_S, REFRESH_GRACE_MAX_S

GrantType = Literal[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:openid:params:grant-type:ciba",
]
#: RFC 8693 §3 token type identifiers a subject token may have here.
SubjectTokenType = Literal[
    "urn:ietf:params:oauth:token-type:access_token",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:jwt",
]


class TokenExchangeSpec(BaseModel):
    """A client's RFC 8693 policy: which subject tokens it may exchange, whose, and for which
    audiences."""

    model_config = ConfigDict(extra="forbid")

    subject_token_types: list[SubjectTokenType] = Field(min_length=1, max_length=3)
    #: The clients whose tokens it may exchange besides its own; ``*``: any client's.
    subject_clients: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    #: The audiences it may ask for; empty: its own ``audiences``.
    audiences: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )

    def to_policy(self) -> TokenExchangePolicy:
        return TokenExchangePolicy(
            subject_token_types=frozenset(self.subject_token_types),
            subject_clients=frozenset(self.subject_clients),
            audiences=tuple(dict.fromkeys(self.audiences)),
        )


#: A vault client's id (``vault_clients.id``, a database integer).
VaultClientId = Annotated[int, Field(ge=1, le=2**31 - 1)]
ScopeToken = Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$", max_length=100)]


def _default_grants() -> list[GrantType]:
    return ["authorization_code"]


def _checked(name: str, value: object) -> Any:
    try:
        return FIELDS[name](value)
    except OAuthError as exc:
        raise ValueError(exc.description) from None


def _check_redirect_uri(uri: str) -> str:
    problem = redirect_uri_problem(uri)
    if problem is not None:
        raise ValueError(f"redirect URI {problem}")
    return uri


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    grant_types: list[GrantType] = Field(default_factory=lambda: _default_grants())
    redirect_uris: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    post_logout_redirect_uris: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    scope: str = Field(default="openid profile email", max_length=2000)
    audiences: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    public: bool = False
    token_endpoint_auth_method: AuthMethod | None = None
    access_token_format: TokenFormat = TokenFormat.JWT
    require_pkce: bool = False
    skip_consent: bool = False
    access_token_ttl_s: int | None = Field(default=None, ge=1, le=CLIENT_TOKEN_TTL_MAX_S)
    refresh_token_ttl_s: int | None = Field(default=None, ge=1, le=365 * 86_400)
    id_token_ttl_s: int | None = Field(default=None, ge=1, le=CLIENT_TOKEN_TTL_MAX_S)
    #: Seconds a rotated refresh token still returns its successor (oidc.refresh_grace_s has
    #: the trade-off); confidential clients only. None: the setting's (0 by default).
    refresh_grace_s: int | None = Field(default=None, ge=0, le=REFRESH_GRACE_MAX_S)
    #: The vault clients (tenants) whose connections the client's tokens may reach, as their
    #: ``vault_clients`` claim; empty: none, unless a token carries ``vault:admin``.
    vault_clients: list[VaultClientId] = Field(default_factory=list, max_length=100)
    #: How its tokens carry the user's roles and groups when the ``roles`` scope is granted:
    #: ``roles`` (flat ``roles``/``groups`` claims) or ``keycloak`` (``realm_access``,
    #: ``resource_access``).
    role_claims: RoleClaimShape = RoleClaimShape.FLAT
    #: Disabled: unknown to the provider's flows (no authentication, no authorization); its
    #: tokens already issued live out their lifetime.
    disabled: bool = False
    #: RFC 7591 §2: the client's public keys by value (a JWK Set) or by reference, not both.
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(default=None, max_length=2000)
    #: Descriptive RFC 7591 metadata (client_uri, logo_uri, contacts, software_id, ...).
    metadata: dict[str, Any] = Field(default_factory=dict)
    #: RFC 8693 token exchange policy; needs the token-exchange grant type.
    token_exchange: TokenExchangeSpec | None = None
    #: RFC 9701: signed JWT introspection responses when the client asks for them.
    jwt_introspection: bool = False
    #: Browser origins (``https://app.example``) allowed to call /token, /revoke and
    #: /introspect for this client (CORS); ``+``: its redirect URIs' origins.
    web_origins: list[Annotated[str, Field(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=20
    )

    #: OpenID Back-Channel Logout §2.2: where logout tokens are posted (https, or http on a
    #: loopback address); sent through the outbound policy (TOKEND_HTTP__*).
    backchannel_logout_uri: str | None = Field(default=None, max_length=2000)
    backchannel_logout_session_required: bool = False

    #: CIBA Core §4: ``poll`` or ``ping`` (``push`` is not offered); needs the CIBA grant type.
    #: None with the grant: poll.
    backchannel_token_delivery_mode: Literal["poll", "ping"] | None = None
    #: CIBA Core §4: where pings are posted (§10.2); required with ``ping``. Checked like
    #: ``jwks_uri``: https, or http where the outbound policy (TOKEND_HTTP__*) allows it.
    backchannel_client_notification_endpoint: str | None = Field(default=None, max_length=2000)
    #: CIBA Core §4: only false, the ``user_code`` parameter is not supported.
    backchannel_user_code_parameter: Literal[False] = False

    @field_validator("backchannel_client_notification_endpoint")
    @classmethod
    def _notification_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return outbound_url(value)
        except OutboundRefusal as exc:
            raise ValueError(f"backchannel_client_notification_endpoint {exc}") from None

    @field_validator("backchannel_logout_uri")
    @classmethod
    def _logout_uri(cls, value: str | None) -> str | None:
        return None if value is None else _checked("backchannel_logout_uri", value)

    @field_validator("web_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            problem = web_origin_problem(origin)
            if problem is not None:
                raise ValueError(f"web origin {problem}")
        return list(dict.fromkeys(value))

    @field_validator("jwks", "jwks_uri")
    @classmethod
    def _keys(cls, value: object, info: ValidationInfo) -> object:
        # The checks of dynamic registration (client_metadata.FIELDS), so both agree.
        if value is None:
            return None
        if info.field_name == "jwks_uri" and isinstance(value, str):
            # An operator's client: the outbound policy's rule (https, or http where
            # TOKEND_HTTP__* allows it, checked by the guarded client when fetched).
            # Self-registered clients keep RFC 7591 registration's stricter https-only rule.
            try:
                return outbound_url(value)
            except OutboundRefusal as exc:
                raise ValueError(f"jwks_uri {exc}") from None
        checked = _checked(info.field_name or "", value)
        if info.field_name == "jwks" and isinstance(checked, dict):
            check_client_jwks(checked)  # public signature keys only, bounded (RFC 7523 §2.2)
        return checked

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - DESCRIPTIVE
        if unknown:
            raise ValueError(f"unknown metadata: {', '.join(sorted(unknown))[:200]}")
        return {name: _checked(name, item) for name, item in sorted(value.items())}

    #: The one alg the client's assertions use; None: any accepted one.
    token_endpoint_auth_signing_alg: str | None = Field(default=None, max_length=16)
    #: RFC 9126 §6: authorization requests must be pushed first (PAR).
    require_pushed_authorization_requests: bool = False
    #: RFC 9101 §10.5: authorization requests must be signed request objects.
    require_signed_request_object: bool = False
    #: The one alg its request objects use; None: any accepted one.
    request_object_signing_alg: str | None = Field(default=None, max_length=16)
    #: RFC 9449 §5.2: every access token must be DPoP-bound (a proof at each token request).
    dpop_bound_access_tokens: bool = False
    #: The FAPI 2.0 Security Profile for this client (``oidc.fapi``): needs private_key_jwt.
    fapi2_profile: bool = False
    #: Every sign-in for this client must be multi-factor (a second factor or a passkey);
    #: a user without one is sent back with ``unmet_authentication_requirements``.
    require_mfa: bool = False
    #: OIDC Core §8: ``pairwise`` gives each sector its own subject for a user (needs
    #: ``oidc.pairwise_salt``).
    subject_type: Literal["public", "pairwise"] = "public"
    #: OIDC Registration §5: fetched when the client is saved; must list every redirect URI.
    sector_identifier_uri: str | None = Field(default=None, max_length=2000)

    @field_validator("sector_identifier_uri")
    @classmethod
    def _sector_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("sector_identifier_uri must be an https URL (OIDC Registration §5)")
        if value is not None:
            outbound_url(value)
        return value

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, value: list[str]) -> list[str]:
        return [_check_redirect_uri(uri) for uri in value]

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        for token in value.split():
            if not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in token):
                raise ValueError("scope tokens are printable ASCII without quotes (RFC 6749 §3.3)")
        return " ".join(value.split())

    @model_validator(mode="after")
    def _consistent(self) -> ClientCreate:
        method = self.token_endpoint_auth_method
        if self.public:
            if method not in (None, AuthMethod.NONE):
                raise ValueError("a public client authenticates with 'none'")
            if "client_credentials" in self.grant_types:
                raise ValueError("a public client cannot use client_credentials (RFC 6749 §4.4)")
            if self.refresh_grace_s:
                # RFC 9700 §4.14.2: for a public client a reuse is the only sign of theft.
                raise ValueError("a public client cannot have a refresh_grace_s")
            if self.vault_clients:
                # A tenant's provider tokens are for services that keep a secret.
                raise ValueError("a public client cannot have vault_clients")
        elif method is AuthMethod.NONE:
            raise ValueError("a confidential client needs a secret-based auth method")
        exchange = "urn:ietf:params:oauth:grant-type:token-exchange"
        if (self.token_exchange is not None) != (exchange in self.grant_types):
            raise ValueError(
                "the token-exchange grant type and a token_exchange policy go together"
            )
        if self.jwks is not None and self.jwks_uri is not None:
            raise ValueError("give jwks or jwks_uri, not both (RFC 7591 §2)")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("authorization_code needs at least one redirect_uri")
        check_key_metadata(
            self.auth_method(), self.jwks, self.jwks_uri, self.token_endpoint_auth_signing_alg
        )
        if (
            self.subject_type == "pairwise"
            and self.sector_identifier_uri is None
            and len({urlsplit(uri).hostname for uri in self.redirect_uris}) > 1
        ):
            # OIDC Core §8.1: several redirect hosts need a sector_identifier_uri.
            raise ValueError(
                "pairwise with redirect URIs on several hosts needs a sector_identifier_uri"
            )
        if self.fapi2_profile and self.auth_method() is not AuthMethod.PRIVATE_KEY_JWT:
            # FAPI 2.0 SP §5.3.2.1-4: private_key_jwt (mTLS is not offered).
            raise ValueError("fapi2_profile needs token_endpoint_auth_method private_key_jwt")
        check_request_object_metadata(
            self.require_signed_request_object,
            self.request_object_signing_alg,
            has_keys=self.jwks is not None or self.jwks_uri is not None,
        )
        try:
            check_ciba_metadata(
                CIBA_GRANT in self.grant_types,
                self.public,
                self.backchannel_token_delivery_mode,
                self.backchannel_client_notification_endpoint is not None,
            )
        except OAuthError as exc:
            raise ValueError(exc.description) from None
        return self

    @classmethod
    def of(cls, client: Client) -> ClientCreate:
        """The settings ``client`` was made with, to change some and make it again."""
        return cls.model_validate(
            {
                "name": client.name,
                "grant_types": sorted(client.grant_types),
                "redirect_uris": list(client.redirect_uris),
                "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
                "scope": " ".join(sorted(client.scopes)),
                "audiences": list(client.audiences),
                "public": client.is_public,
                "token_endpoint_auth_method": client.auth_method,
                "access_token_format": client.token_format,
                "require_pkce": client.require_pkce,
                "skip_consent": client.skip_consent,
                "access_token_ttl_s": client.access_token_ttl_s,
                "refresh_token_ttl_s": client.refresh_token_ttl_s,
                "id_token_ttl_s": client.id_token_ttl_s,
                "refresh_grace_s": client.refresh_grace_s,
                "vault_clients": list(client.vault_clients),
                "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg,
                "require_pushed_authorization_requests": (
                    client.require_pushed_authorization_requests
                ),
                "require_signed_request_object": client.require_signed_request_object,
                "request_object_signing_alg": client.request_object_signing_alg,
                "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
                "fapi2_profile": client.fapi2_profile,
                "require_mfa": client.require_mfa,
                "subject_type": client.subject_type,
                "sector_identifier_uri": client.sector_identifier_uri,
                "role_claims": client.role_claims,
                "disabled": client.disabled,
                "jwks": dict(client.jwks) if client.jwks is not None else None,
                "jwks_uri": client.jwks_uri,
                "metadata": dict(client.metadata),
                "token_exchange": (
                    client.token_exchange.to_json() if client.token_exchange is not None else None
                ),
                "jwt_introspection": client.jwt_introspection,
                "web_origins": list(client.web_origins),
                "backchannel_logout_uri": client.backchannel_logout_uri,
                "backchannel_logout_session_required": client.backchannel_logout_session_required,
                "backchannel_token_delivery_mode": client.backchannel_token_delivery_mode,
                "backchannel_client_notification_endpoint": (
                    client.backchannel_client_notification_endpoint
                ),
            }
        )

    def auth_method(self) -> AuthMethod:
        if self.public:
            return AuthMethod.NONE
        return self.token_endpoint_auth_method or AuthMethod.CLIENT_SECRET_BASIC

    def to_client(
        self,
        client_id: str,
        secret_hash: str | None,
        source: ClientSource = ClientSource.ADMIN,
        issued_at: datetime | None = None,
    ) -> Client:
        return Client(
            client_id=client_id,
            name=self.name,
            is_public=self.public,
            redirect_uris=tuple(dict.fromkeys(self.redirect_uris)),
            post_logout_redirect_uris=tuple(dict.fromkeys(self.post_logout_redirect_uris)),
            grant_types=frozenset(self.grant_types),
            response_types=frozenset({"code"} if "authorization_code" in self.grant_types else ()),
            scopes=frozenset(self.scope.split()),
            audiences=tuple(self.audiences),
            auth_method=self.auth_method(),
            token_format=self.access_token_format,
            # RFC 9700 §2.1.1: public clients must use PKCE.
            require_pkce=self.public or self.require_pkce,
            skip_consent=self.skip_consent,
            access_token_ttl_s=self.access_token_ttl_s,
            refresh_token_ttl_s=self.refresh_token_ttl_s,
            id_token_ttl_s=self.id_token_ttl_s,
            refresh_grace_s=self.refresh_grace_s,
            vault_clients=tuple(sorted(set(self.vault_clients))),
            token_endpoint_auth_signing_alg=self.token_endpoint_auth_signing_alg,
            require_pushed_authorization_requests=self.require_pushed_authorization_requests,
            require_signed_request_object=self.require_signed_request_object,
            request_object_signing_alg=self.request_object_signing_alg,
            dpop_bound_access_tokens=self.dpop_bound_access_tokens,
            fapi2_profile=self.fapi2_profile,
            require_mfa=self.require_mfa,
            subject_type=self.subject_type,
            sector_identifier_uri=self.sector_identifier_uri,
            role_claims=self.role_claims,
            disabled=self.disabled,
            secret_hash=secret_hash,
            source=source,
            issued_at=issued_at,
            jwks=self.jwks,
            jwks_uri=self.jwks_uri,
            metadata=self.metadata,
            token_exchange=(
                self.token_exchange.to_policy() if self.token_exchange is not None else None
            ),
            jwt_introspection=self.jwt_introspection,
            web_origins=tuple(self.web_origins),
            backchannel_logout_uri=self.backchannel_logout_uri,
            backchannel_logout_session_required=self.backchannel_logout_session_required,
            backchannel_token_delivery_mode=self.backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint=self.backchannel_client_notification_endpoint,
        )


#: The members of a :class:`ClientView` the server sets: a client's settings are the rest (what
#: ``ClientCreate`` accepts back, e.g. a read-modify-write through the admin API or the console).
CLIENT_READ_ONLY: Final = frozenset(
    {"client_id", "response_types", "source", "client_id_issued_at"}
)


class ClientView(BaseModel):
    client_id: str
    name: str
    public: bool
    grant_types: list[str]
    response_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str
    audiences: list[str]
    token_endpoint_auth_method: str
    access_token_format: str
    require_pkce: bool
    skip_consent: bool
    access_token_ttl_s: int | None
    refresh_token_ttl_s: int | None
    id_token_ttl_s: int | None
    refresh_grace_s: int | None
    vault_clients: list[int]
    token_endpoint_auth_signing_alg: str | None = None
    require_pushed_authorization_requests: bool = False
    require_signed_request_object: bool = False
    request_object_signing_alg: str | None = None
    dpop_bound_access_tokens: bool = False
    fapi2_profile: bool = False
    require_mfa: bool = False
    subject_type: str = "public"
    sector_identifier_uri: str | None = None
    role_claims: str
    disabled: bool
    #: Where the client came from: admin, cli, demo or dynamic (RFC 7591 self-registration).
    source: str
    #: RFC 7591 §3.2.1 ``client_id_issued_at``, seconds since the epoch.
    client_id_issued_at: int | None
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    metadata: dict[str, Any]
    token_exchange: dict[str, object] | None
    jwt_introspection: bool
    web_origins: list[str]
    backchannel_logout_uri: str | None
    backchannel_logout_session_required: bool
    #: CIBA Core §4 (None: not registered; poll when the client may use the CIBA grant).
    backchannel_token_delivery_mode: str | None = None
    backchannel_client_notification_endpoint: str | None = None

    @classmethod
    def of(cls, client: Client) -> ClientView:
        return cls(
            client_id=client.client_id,
            name=client.name,
            public=client.is_public,
            grant_types=sorted(client.grant_types),
            response_types=sorted(client.response_types),
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            scope=" ".join(sorted(client.scopes)),
            audiences=list(client.audiences),
            token_endpoint_auth_method=client.auth_method.value,
            access_token_format=client.token_format.value,
            require_pkce=client.require_pkce,
            skip_consent=client.skip_consent,
            access_token_ttl_s=client.access_token_ttl_s,
            refresh_token_ttl_s=client.refresh_token_ttl_s,
            id_token_ttl_s=client.id_token_ttl_s,
            refresh_grace_s=client.refresh_grace_s,
            vault_clients=list(client.vault_clients),
            token_endpoint_auth_signing_alg=client.token_endpoint_auth_signing_alg,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            require_signed_request_object=client.require_signed_request_object,
            request_object_signing_alg=client.request_object_signing_alg,
            dpop_bound_access_tokens=client.dpop_bound_access_tokens,
            fapi2_profile=client.fapi2_profile,
            require_mfa=client.require_mfa,
            subject_type=client.subject_type,
            sector_identifier_uri=client.sector_identifier_uri,
            role_claims=client.role_claims.value,
            disabled=client.disabled,
            source=client.source.value,
            client_id_issued_at=(
                int(client.issued_at.timestamp()) if client.issued_at is not None else None
            ),
            jwks=dict(client.jwks) if client.jwks is not None else None,
            jwks_uri=client.jwks_uri,
            metadata=dict(client.metadata),
            token_exchange=(
                client.token_exchange.to_json() if client.token_exchange is not None else None
            ),
            jwt_introspection=client.jwt_introspection,
            web_origins=list(client.web_origins),
            backchannel_logout_uri=client.backchannel_logout_uri,
            backchannel_logout_session_required=client.backchannel_logout_session_required,
            backchannel_token_delivery_mode=client.backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint=client.backchannel_client_notification_endpoint,
        )


class ClientCreated(ClientView):
    #: Shown once, never stored in clear; None for public clients.
    client_secret: str | None


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str


class Address(BaseModel):
    """OIDC Core §5.1.1 address claim."""

    model_config = ConfigDict(extra="forbid")

    formatted: str | None = Field(default=None, max_length=1000)
    street_address: str | None = Field(default=None, max_length=500)
    locality: str | None = Field(default=None, max_length=200)
    region: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, max_length=100)

    def members(self) -> tuple[tuple[str, str], ...]:
        return tuple((k, v) for k, v in self.model_dump().items() if v is not None)


#: OIDC Core §5.1: E.164 is recommended for phone_number; an extension may follow ``;ext=``.
PHONE_PATTERN = r"^\+?[0-9 ()./-]{3,40}(;ext=[0-9]{1,10})?$"
RoleName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s]+$")]
#: A group's name or path (``/staff/nurses``, as Keycloak writes them).
GroupName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")]
#: A client id, or an audience (a resource server's URI) its tokens are for.
ClientIdKey = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\s]+$")]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=1024)
    email_verified: bool = False
    name: str | None = Field(default=None, max_length=200)
    given_name: str | None = Field(default=None, max_length=200)
    family_name: str | None = Field(default=None, max_length=200)
    picture: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, max_length=35)
    address: Address | None = None
    phone_number: str | None = Field(default=None, max_length=64, pattern=PHONE_PATTERN)
    phone_number_verified: bool = False
    roles: list[RoleName] = Field(default_factory=list, max_length=50)
    groups: list[GroupName] = Field(default_factory=list, max_length=50)
    #: Roles at one client, by client id (Keycloak's client roles).
    client_roles: dict[ClientIdKey, list[RoleName]] = Field(default_factory=dict, max_length=50)
    disabled: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_verified: bool | None = None
    name: str | None = Field(default=None, max_length=200)
    given_name: str | None = Field(default=None, max_length=200)
    family_name: str | None = Field(default=None, max_length=200)
    picture: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, max_length=35)
    address: Address | None = None
    phone_number: str | None = Field(default=None, max_length=64, pattern=PHONE_PATTERN)
    phone_number_verified: bool | None = None
    roles: list[RoleName] | None = Field(default=None, max_length=50)
    groups: list[GroupName] | None = Field(default=None, max_length=50)
    client_roles: dict[ClientIdKey, list[RoleName]] | None = Field(default=None, max_length=50)
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)


class UserView(BaseModel):
    id: str
    email: str
    email_verified: bool
    name: str | None
    given_name: str | None
    family_name: str | None
    picture: str | None
    locale: str | None
    address: Address | None
    phone_number: str | None
    phone_number_verified: bool
    roles: list[str]
    groups: list[str]
    client_roles: dict[str, list[str]]
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            given_name=user.given_name,
            family_name=user.family_name,
            picture=user.picture,
            locale=user.locale,
            address=Address.model_validate(dict(user.address)) if user.address else None,
            phone_number=user.phone_number,
            phone_number_verified=user.phone_number_verified,
            roles=list(user.roles),
            groups=list(user.groups),
            client_roles={c: list(r) for c, r in user.client_roles.items()},
            disabled=user.disabled,
        )
