"""The provider's records: clients, users, codes, refresh and opaque access tokens, sessions;
what its stores take and return. Frozen, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tokend.oidc.settings import UpstreamSettings


class AuthMethod(StrEnum):
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105  (a method name)
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105  (a method name)
    #: RFC 7523 §2.2 / OIDC Core §9: a JWT signed with the client secret (HMAC).
    CLIENT_SECRET_JWT = "client_secret_jwt"  # noqa: S105  (a method name)
    #: RFC 7523 §2.2 / OIDC Core §9: a JWT signed with a key of the client's JWK Set.
    PRIVATE_KEY_JWT = "private_key_jwt"
    NONE = "none"


#: RFC 7523 §2.2: the client_assertion_type of a JWT client assertion.
JWT_BEARER_ASSERTION: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenFormat(StrEnum):
    JWT = "jwt"
    OPAQUE = "opaque"


class ClientSource(StrEnum):
    """Where a client came from: shown by the admin API and the CLI."""

    ADMIN = "admin"  # the admin API
    CLI = "cli"  # ``tokend clients create``
    DEMO = "demo"  # seeded by ``--demo``
    DYNAMIC = "dynamic"  # registered itself (RFC 7591)


#: Asks for the user's roles and groups in the tokens (``role_claims``), in the client's shape.
ROLES_SCOPE: Final = "roles"
#: Scopes the provider understands for end users (OIDC Core §5.4, offline_access, roles).
USER_SCOPES: Final = frozenset(
    {"openid", "profile", "email", "address", "phone", "offline_access", ROLES_SCOPE}
)


#: OIDC Core §5.4: the claims each standard scope releases.
SCOPE_CLAIMS: Final = {
    "profile": ("name", "given_name", "family_name", "picture", "locale"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
#: Every claim a scope releases, and the scope that releases it.
CLAIM_SCOPE: Final = {name: scope for scope, names in SCOPE_CLAIMS.items() for name in names}
#: OIDC Core §5.1.1: the members of the ``address`` claim.
ADDRESS_MEMBERS: Final = (
    "formatted", "street_address", "locality", "region", "postal_code", "country",
)  # fmt: skip


class RoleClaimShape(StrEnum):
    """How a client's tokens carry roles (``role_claims``)."""

    #: ``roles`` (realm roles and this client's own) and ``groups``, top-level lists.
    FLAT = "roles"
    #: Keycloak's ``realm_access.roles`` and ``resource_access.<client>.roles``, and ``groups``,
    #: so resource servers written for Keycloak keep working.
    KEYCLOAK = "keycloak"


@dataclass(frozen=True, slots=True)
class TokenExchangePolicy:
    """RFC 8693 at the token endpoint: what this client may exchange, and for whom."""

    #: Subject token types it may present (``urn:ietf:params:oauth:token-type:*``).
    subject_token_types: frozenset[str]
    #: The clients whose tokens it may exchange; its own always. ``*``: any client's.
    subject_clients: frozenset[str] = frozenset()
    #: The audiences (resources) it may ask for; empty: its own ``audiences``.
    audiences: tuple[str, ...] = ()

    @classmethod
    def of_json(cls, data: object) -> TokenExchangePolicy | None:
        """The policy a stored JSON value holds (a row's, a cache entry's); None otherwise."""
        if not isinstance(data, dict):
            return None
        return cls(
            subject_token_types=frozenset(str(t) for t in data.get("subject_token_types", ())),
            subject_clients=frozenset(str(c) for c in data.get("subject_clients", ())),
            audiences=tuple(str(a) for a in data.get("audiences", ())),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "subject_token_types": sorted(self.subject_token_types),
            "subject_clients": sorted(self.subject_clients),
            "audiences": list(self.audiences),
        }


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    is_public: bool
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: frozenset[str]
    response_types: frozenset[str]
    scopes: frozenset[str]
    audiences: tuple[str, ...]
    auth_method: AuthMethod
    token_format: TokenFormat
    require_pkce: bool
    skip_consent: bool
    access_token_ttl_s: int | None = None
    refresh_token_ttl_s: int | None = None
    id_token_ttl_s: int | None = None
    #: Seconds a rotated refresh token still returns its successor; None: the setting's.
    refresh_grace_s: int | None = None
    #: The vault clients (tenants) whose connections this client's tokens may reach: its
    #: access tokens carry them as the ``vault_clients`` claim (``vault.access``).
    vault_clients: tuple[int, ...] = ()
    #: The shape of the roles and groups its tokens carry when the ``roles`` scope is granted.
    role_claims: RoleClaimShape = RoleClaimShape.FLAT
    #: A disabled client is unknown to the provider's flows (``CachedClients``): it can neither
    #: authenticate nor start an authorization; its admin record stays.
    disabled: bool = False
    secret_hash: str | None = field(default=None, repr=False)
    source: ClientSource = ClientSource.ADMIN
    #: ``client_id_issued_at`` (RFC 7591 §3.2.1), set by the store; None before it was stored.
    #: Not compared: a client reads back equal to the one that was added.
    issued_at: datetime | None = field(default=None, compare=False)
    #: RFC 7591 §2: the client's public keys, by value (a JWK Set) or by reference; at most one.
    jwks: Mapping[str, object] | None = field(default=None, hash=False, repr=False)
    jwks_uri: str | None = None
    #: The other RFC 7591 §2 / OIDC Registration §2 metadata as registered (client_uri,
    #: logo_uri, contacts, software_id, application_type, ...): shown, not acted on.
    metadata: Mapping[str, object] = field(default_factory=dict, hash=False, repr=False)
    #: RFC 8693: None: this client exchanges no tokens.
    token_exchange: TokenExchangePolicy | None = None
    #: RFC 9701: answer this client's introspection requests with a signed JWT when it asks
    #: (``Accept: application/token-introspection+jwt``).
    jwt_introspection: bool = False
    #: Browser origins allowed to call the token endpoint and the like for this client
    #: (CORS); ``+``: the origins of its redirect URIs (as Keycloak's web origins).
    web_origins: tuple[str, ...] = ()
    #: OpenID Back-Channel Logout §2.2: where logout tokens are posted; None: not sent.
    backchannel_logout_uri: str | None = None
    #: §2.2 ``backchannel_logout_session_required``: the logout token must carry ``sid``.
    backchannel_logout_session_required: bool = False
    #: OIDC Dynamic Client Registration §2: the one alg its client assertions use; None: any
    #: of ``client_auth.ASSERTION_ALGORITHMS`` (or HS256 for client_secret_jwt).
    token_endpoint_auth_signing_alg: str | None = None
    #: RFC 9126 §6: this client's authorization requests must be pushed (PAR) first.
    require_pushed_authorization_requests: bool = False
    #: RFC 9101 §10.5 / OIDC Registration §2: requests must come as signed request objects,
    #: signed with this alg (None: any of ``client_metadata.ASSERTION_ALGORITHMS``).
    require_signed_request_object: bool = False
    request_object_signing_alg: str | None = None
    #: RFC 9449 §5.2: every access token of this client must be DPoP-bound.
    dpop_bound_access_tokens: bool = False
    #: The FAPI 2.0 Security Profile applies to this client (``oidc.fapi``).
    fapi2_profile: bool = False
    #: Every sign-in for this client must be multi-factor (``authn_context.ACR_MFA``), as an
    #: essential ``acr`` claim asks it (OIDC Core §5.5.1.1).
    require_mfa: bool = False
    #: OIDC Core §8: ``public`` (the user id) or ``pairwise`` (one per sector, ``subjects``).
    subject_type: str = "public"
    #: OIDC Registration §5: a JSON array of the client's redirect URIs; its host is the sector.
    sector_identifier_uri: str | None = None
    #: client_secret_jwt only: the secret itself (FieldCipher), needed to check an HMAC.
    secret_enc: str | None = field(default=None, repr=False)
    #: CIBA Core §4 ``backchannel_token_delivery_mode``: ``poll`` or ``ping`` (``push`` is not
    #: offered); None: the client did not register one (poll, if it may use the CIBA grant).
    backchannel_token_delivery_mode: str | None = None
    #: CIBA Core §4: where ping callbacks go (§10.2); required with ``ping``.
    backchannel_client_notification_endpoint: str | None = None

    def allows_grant(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def refresh_grace(self, default_s: float) -> timedelta:
        """How long a reused refresh token is answered with its successor (RFC 9700 §4.14.2:
        zero, so the reuse revokes the family, unless a confidential client opted in)."""
        if self.is_public:
            return timedelta(0)
        chosen = self.refresh_grace_s if self.refresh_grace_s is not None else default_s
        return timedelta(seconds=chosen)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    email_verified: bool
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    picture: str | None = None
    locale: str | None = None
    #: Realm-wide roles.
    roles: tuple[str, ...] = ()
    disabled: bool = False
    #: OIDC Core §5.1.1 address members (``ADDRESS_MEMBERS``); empty: none known.
    address: tuple[tuple[str, str], ...] = ()
    phone_number: str | None = None
    phone_number_verified: bool = False
    password_hash: str = field(default="", repr=False)
    groups: tuple[str, ...] = ()
    #: Roles the user holds at one client (by client id): Keycloak's client roles.
    client_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def claims_for(self, scopes: frozenset[str]) -> dict[str, object]:
        """OIDC Core §5.4: the standard claims each scope releases."""
        claims: dict[str, object] = {"sub": self.id}
        for scope in scopes & SCOPE_CLAIMS.keys():
            for name in SCOPE_CLAIMS[scope]:
                value = self.claim(name)
                if value is not None:
                    claims[name] = value
        return claims

    def claim(self, name: str) -> object:
        """One standard claim's value (OIDC Core §5.1), None when the user has none."""
        if name not in CLAIM_SCOPE:
            return None  # never an attribute that is not a released claim (password_hash)
        if name == "address":
            return dict(self.address) if self.address else None
        if name == "phone_number_verified":
            return self.phone_number_verified if self.phone_number is not None else None
        value: object = getattr(self, name, None)
        return value


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    code_hash: str = field(repr=False)
    grant_id: str
    client_id: str
    user_id: str
    redirect_uri: str
    scopes: frozenset[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: datetime
    acr: str | None
    expires_at: datetime
    #: OIDC Core §5.5: the claims the ``claims`` request parameter asked for in the ID token.
    id_token_claims: tuple[str, ...] = ()
    #: RFC 9449 §10: the DPoP key (thumbprint) the code is bound to (``dpop_jkt``).
    dpop_jkt: str | None = None
    #: RFC 8176 authentication methods of the sign-in, for the ID token's ``amr``.
    amr: tuple[str, ...] = ()
    #: The browser session's ``sid`` (OpenID Back-Channel Logout §2.1), for the ID token.
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    id: str
    grant_id: str
    client_id: str
    user_id: str
    scopes: frozenset[str]
    auth_time: datetime
    acr: str | None
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    #: RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    dpop_jkt: str | None = None
    #: RFC 8176 methods of the sign-in the grant came from, for refreshed ID tokens.
    amr: tuple[str, ...] = ()
    #: The browser session of that sign-in (OpenID Back-Channel Logout §2.1 ``sid``), so that
    #: a refreshed ID token names the session the logout token will name.
    sid: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    auth_time: datetime
    expires_at: datetime
    #: RFC 8176 methods of the sign-in (``amr.amr_of``); empty for sessions of earlier releases.
    amr: tuple[str, ...] = ()
    #: A public handle of the session (not its cookie): the account page lists and ends by it.
    sid: str = ""
    #: The browser (User-Agent, shortened) and address it was started from, and last seen.
    device: str = ""
    ip: str = ""
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's TOTP authenticator (RFC 6238): its seed encrypted (``FieldCipher``, bound to
    the user), confirmed once the user typed a first code, and the last time step accepted
    (a code of that step or earlier is refused: RFC 6238 §5.2)."""

    user_id: str
    seed_enc: str = field(repr=False)
    confirmed: bool
    last_step: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Passkey:
    """A WebAuthn credential (passkey) of a user: its public key, never a secret."""

    credential_id: str  # base64url
    user_id: str
    public_key: str  # base64url COSE key
    sign_count: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    #: The backup flags (WebAuthn Level 3 §6.1): may it be synced, and is it.
    device_type: str = "single_device"
    backed_up: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamLink:
    """An account at an upstream identity provider that signs in to a local user."""

    upstream_id: str
    #: The upstream's stable identifier of the account (OIDC ``sub``, GitHub's numeric id).
    subject: str
    user_id: str
    #: The address the upstream gave when the link was made (shown on the account page).
    email: str | None
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OfferedUpstream:
    """An upstream as the login and account pages show it: its id and name, no secret."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class StoredUpstream:
    """An upstream identity provider added through the admin API (its secret decrypted only
    in memory: ``settings.client_secret`` is a SecretStr)."""

    settings: UpstreamSettings
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Consent:
    """What a user allowed one client, as the account page lists it."""

    client_id: str
    scopes: frozenset[str]
    granted_at: datetime


@dataclass(frozen=True, slots=True)
class ConsumedCode:
    code: AuthorizationCode
    #: True when the code had been used before: a replay.
    was_used: bool


@dataclass(frozen=True, slots=True)
class RefreshInGrant:
    """A refresh token as a refresh grant needs it, read at once: the token, its user (None:
    deleted), the scopes the user allows its client now (empty: none remembered), and until
    when the grant's UserInfo claims are kept (None: it keeps none; OIDC Core §5.5)."""

    token: RefreshToken
    user: User | None
    consented: frozenset[str]
    claims_until: datetime | None


@dataclass(frozen=True, slots=True)
class Rotation:
    """Outcome of rotating a refresh token."""

    won: bool
    #: When the token had been rotated already: when, and its successor (encrypted), if kept.
    rotated_at: datetime | None = None
    successor_enc: str | None = None


@dataclass(frozen=True, slots=True)
class OpaqueAccessToken:
    """An opaque access token as stored: by the hash of its value, never the value."""

    token_hash: str = field(repr=False)
    jti: str
    #: The user's grant; None for client_credentials.
    grant_id: str | None
    client_id: str
    user_id: str | None
    scopes: frozenset[str]
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    #: RFC 9449 §6: the DPoP key the token is bound to (``cnf.jkt``).
    dpop_jkt: str | None = None


class DeviceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    #: Approved, and its tokens were issued: a device code is good for one token response.
    REDEEMED = "redeemed"


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """RFC 8628 §3.2: a device code and its user code, both stored only as hashes."""

    device_code_hash: str = field(repr=False)
    user_code_hash: str = field(repr=False)
    client_id: str
    scopes: frozenset[str]
    status: DeviceStatus
    #: The polling interval now in force (§3.5: ``slow_down`` adds 5 s each time).
    interval_s: int
    #: The earliest moment the next poll is answered with anything but ``slow_down``.
    next_poll_at: datetime
    expires_at: datetime
    user_id: str | None = None
    auth_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class DevicePoll:
    """What one poll of the token endpoint found."""

    device: DeviceAuthorization
    #: The client polled before ``next_poll_at``: §3.5 ``slow_down`` (the interval grew).
    too_soon: bool


class BackchannelStatus(StrEnum):
    """CIBA Core: where one backchannel authentication request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    #: Approved, and its tokens were issued: an auth_req_id is good for one token response.
    REDEEMED = "redeemed"


class TokenDeliveryMode(StrEnum):
    """CIBA Core §5: how the client learns the outcome; ``push`` is not offered."""

    POLL = "poll"
    PING = "ping"


@dataclass(frozen=True, slots=True)
class BackchannelRequest:
    """CIBA Core §7: one authentication request, by the hash of its ``auth_req_id``."""

    #: A public handle (``cb_...``): the approval page and the device webhook name it.
    id: str
    auth_req_id_hash: str = field(repr=False)
    client_id: str
    user_id: str
    scopes: frozenset[str]
    binding_message: str | None
    delivery_mode: TokenDeliveryMode
    #: Ping mode: the auth_req_id and the client's notification token (§7.1), FieldCipher-
    #: encrypted with the request id as associated data; None in poll mode.
    notification_enc: str | None = field(repr=False)
    status: BackchannelStatus
    #: The polling interval now in force (§11 ``slow_down`` adds 5 s each time).
    interval_s: int
    next_poll_at: datetime
    expires_at: datetime
    created_at: datetime
    auth_time: datetime | None = None
    #: RFC 8176 methods of the approval (the session's, on the approval page).
    amr: tuple[str, ...] = ()
    #: The hash of the one-time decision token last sent to the user's device app.
    decision_token_hash: str | None = field(default=None, repr=False)
    redeemed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BackchannelPoll:
    """What one poll of the token endpoint found (CIBA Core §11)."""

    request: BackchannelRequest
    #: The client polled before ``next_poll_at``: ``slow_down`` (the interval grew).
    too_soon: bool
