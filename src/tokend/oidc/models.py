"""Tables of the OpenID provider. Secrets (client secrets, codes, refresh and opaque access
tokens, session ids) are stored only as SecretHasher hashes; passwords as argon2id hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from tokend.store.base import Base, UTCDateTime

_HASH = 80  # "h1.<pepper id>.<b64url sha256>" is 54 characters


class OidcClientRow(Base):
    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str | None] = mapped_column(String(_HASH), nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    response_types: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(Text)
    audiences: Mapped[list[str]] = mapped_column(JSON)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    access_token_format: Mapped[str] = mapped_column(String(16))
    require_pkce: Mapped[bool] = mapped_column(Boolean)
    skip_consent: Mapped[bool] = mapped_column(Boolean)
    access_token_ttl_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refresh_token_ttl_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    id_token_ttl_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refresh_grace_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vault_clients: Mapped[list[int]] = mapped_column(JSON, server_default="[]")
    role_claims: Mapped[str] = mapped_column(String(16), server_default="roles")
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: ``records.ClientSource``: admin, cli, demo or dynamic (RFC 7591).
    source: Mapped[str] = mapped_column(String(16), server_default="admin")
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, server_default="{}")
    #: ``records.TokenExchangePolicy`` as JSON; null: no token exchange (RFC 8693).
    token_exchange: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: RFC 9701 signed introspection responses, per client.
    jwt_introspection: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: CORS origins, or ``+`` for the redirect URIs' origins.
    web_origins: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    backchannel_logout_session_required: Mapped[bool] = mapped_column(
        Boolean, server_default=false()
    )
    token_endpoint_auth_signing_alg: Mapped[str | None] = mapped_column(String(16), nullable=True)
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    require_signed_request_object: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    request_object_signing_alg: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    fapi2_profile: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    require_mfa: Mapped[bool] = mapped_column(Boolean, server_default=false(), default=False)
    subject_type: Mapped[str] = mapped_column(String(16), server_default="public", default="public")
    sector_identifier_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: client_secret_jwt: the secret, FieldCipher-encrypted (an HMAC needs the secret itself).
    secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: CIBA Core §4 client metadata: ``poll`` or ``ping``, and the ping callback's URL.
    backchannel_token_delivery_mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    backchannel_client_notification_endpoint: Mapped[str | None] = mapped_column(
        Text, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcUserRow(Base):
    __tablename__ = "oidc_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    #: ``email`` lower-cased: the unique key, so addresses are unique case-insensitively.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    email_verified: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    given_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    picture: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    #: OIDC Core §5.1.1 address members; None: no address known.
    address: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    phone_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_number_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The verified ``phone_number`` in E.164 (``phone_numbers.e164``), for CIBA ``tel:``
    #: login hints; None when unverified or not a global number. Not unique: two accounts
    #: may share a number, and then a hint names neither.
    phone_key: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    groups: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    client_roles: Mapped[dict[str, list[str]]] = mapped_column(JSON, server_default="{}")
    disabled: Mapped[bool] = mapped_column(Boolean)
    #: Unused since sign-ins are throttled instead of locking accounts (login_throttle.py);
    #: kept while replicas of the release that wrote them may still run (rolling upgrade).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcCodeRow(Base):
    __tablename__ = "oidc_codes"

    code_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    grant_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(8), nullable=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amr: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: OIDC Core §5.5: claims the ``claims`` request parameter asked for in the ID token.
    id_token_claims: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OidcRefreshTokenRow(Base):
    __tablename__ = "oidc_refresh_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(_HASH), unique=True)
    #: The grant (one authorization) every rotation of this token belongs to.
    grant_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: FieldCipher ciphertext of the successor, kept to answer a reuse within the client's
    #: grace period; never written when the client has none.
    successor_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: RFC 9449 §5: the DPoP key a public client's refresh token is bound to.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The sign-in's RFC 8176 methods and browser session, for refreshed ID tokens.
    amr: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    sid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OidcAccessTokenRow(Base):
    """Opaque access tokens only; JWT access tokens are never written."""

    __tablename__ = "oidc_access_tokens"

    token_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    jti: Mapped[str] = mapped_column(String(64))
    grant_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    audience: Mapped[list[str]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: RFC 9449 §6: the DPoP key thumbprint the token is bound to.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OidcConsentRow(Base):
    __tablename__ = "oidc_consents"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcSessionRow(Base):
    __tablename__ = "oidc_sessions"
    __table_args__ = (Index("ix_oidc_sessions_user_id", "user_id"),)

    id_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    #: A random public handle (the account page ends a session by it), never the cookie.
    sid: Mapped[str] = mapped_column(String(32), server_default="")
    device: Mapped[str] = mapped_column(String(200), server_default="")
    ip: Mapped[str] = mapped_column(String(64), server_default="")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OidcTotpRow(Base):
    """A user's TOTP authenticator: the seed as FieldCipher ciphertext bound to the user id."""

    __tablename__ = "oidc_totp"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seed_enc: Mapped[str] = mapped_column(Text)
    confirmed: Mapped[bool] = mapped_column(Boolean)
    last_step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcRecoveryCodeRow(Base):
    """One-time recovery codes, by SecretHasher hash only (shown once, when made)."""

    __tablename__ = "oidc_recovery_codes"

    code_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OidcInteractionRow(Base):
    """A pending sign-in: an authorization request waiting for the user to sign in or consent.

    In the database, not the cache: a memory cache is an LRU, and unauthenticated requests
    (each unknown client id, each new /authorize) would evict pending sign-ins from it.
    """

    __tablename__ = "oidc_interactions"

    uid: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OidcEmailLinkRow(Base):
    """A password-reset or verification link: its token's hash, until it is used or expires.

    In the database for the same reason as interactions, and so a restart keeps it.
    """

    __tablename__ = "oidc_email_links"

    link_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OidcPasskeyRow(Base):
    """WebAuthn credentials: public keys and sign counts (nothing secret)."""

    __tablename__ = "oidc_passkeys"

    credential_id: Mapped[str] = mapped_column(String(700), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[str] = mapped_column(Text)
    sign_count: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    device_type: Mapped[str] = mapped_column(String(32))
    backed_up: Mapped[bool] = mapped_column(Boolean)


class OidcRegistrationTokenRow(Base):
    """RFC 7592 §3: the registration access token of a self-registered client, by its hash;
    replaced on every update (rotation), deleted with the client."""

    __tablename__ = "oidc_registration_tokens"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(_HASH))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcInitialAccessTokenRow(Base):
    """RFC 7591 §3: an initial access token an operator hands out to allow registrations; by
    its hash, with an expiry and an optional number of uses."""

    __tablename__ = "oidc_initial_access_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(_HASH), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: None: any number of registrations until it expires.
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcDeviceCodeRow(Base):
    """RFC 8628: a pending device authorization, by the hash of its device code; its user
    code is stored hashed too. The polling interval is enforced here, so replicas agree."""

    __tablename__ = "oidc_device_codes"

    device_code_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    user_code_hash: Mapped[str] = mapped_column(String(_HASH), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    interval_s: Mapped[int] = mapped_column(Integer)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OidcLogoutSessionRow(Base):
    """OpenID Back-Channel Logout: which clients got an ID token in which browser session
    (``sid``), so that the end of the session notifies each of them once."""

    __tablename__ = "oidc_logout_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcBackchannelRequestRow(Base):
    """CIBA Core §7: a backchannel authentication request, by its public id; its auth_req_id
    and decision token only as hashes, the ping callback's bearer token encrypted. The polling
    interval is enforced here, so replicas agree."""

    __tablename__ = "oidc_backchannel_requests"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    auth_req_id_hash: Mapped[str] = mapped_column(String(_HASH), unique=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    binding_message: Mapped[str | None] = mapped_column(String(200), nullable=True)
    delivery_mode: Mapped[str] = mapped_column(String(8))
    notification_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    interval_s: Mapped[int] = mapped_column(Integer)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    amr: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    decision_token_hash: Mapped[str | None] = mapped_column(
        String(_HASH), nullable=True, unique=True
    )
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OidcUpstreamLinkRow(Base):
    """Accounts at upstream identity providers linked to users (no upstream token is kept)."""

    __tablename__ = "oidc_upstream_links"
    __table_args__ = (
        Index("uq_oidc_upstream_links_user_upstream", "user_id", "upstream_id", unique=True),
    )

    upstream_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OidcGrantClaimsRow(Base):
    """OIDC Core §5.5: the claims a ``claims`` request asked the UserInfo endpoint for, per
    grant (every access token of it reads them here; a JWT access token stays small). Kept
    while a token of the grant may live; extended on each code redemption and refresh."""

    __tablename__ = "oidc_grant_claims"

    grant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The client that asked: an exchanged token of the grant, for another client, gets none.
    client_id: Mapped[str] = mapped_column(String(64))
    userinfo: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OidcUpstreamRow(Base):
    """Upstream identity providers added through the admin API (those in the settings are not
    stored). ``spec`` is the upstream's settings without its client secret, which is sealed
    with the FieldCipher in ``client_secret_enc`` (bound to the upstream's id)."""

    __tablename__ = "oidc_upstreams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcKnownDeviceRow(Base):
    """The browsers a user has signed in from: the SecretHasher hash of the random id in the
    browser's device cookie (``known_devices``)."""

    __tablename__ = "oidc_known_devices"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_hash: Mapped[str] = mapped_column(String(_HASH), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
