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
    #: private_key_jwt: the client's JWK Set (JSON text) or where to fetch it.
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
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
    subject_type: Mapped[str] = mapped_column(String(16), server_default="public", default="public")
    sector_identifier_uri: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    #: client_secret_jwt: the secret, FieldCipher-encrypted (an HMAC needs the secret itself).
    secret_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
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
    roles: Mapped[list[str]] = mapped_column(JSON)
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
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: OIDC Core §5.5: claims the ``claims`` request parameter asked for in the ID token.
    id_token_claims: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


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
