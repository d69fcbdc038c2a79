"""oidc tables: clients, users, codes, refresh and opaque access tokens, consents, sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tokend.store.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DT = tokend.store.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=80), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("response_types", sa.JSON(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("audiences", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("access_token_format", sa.String(length=16), nullable=False),
        sa.Column("require_pkce", sa.Boolean(), nullable=False),
        sa.Column("skip_consent", sa.Boolean(), nullable=False),
        sa.Column("access_token_ttl_s", sa.Integer(), nullable=True),
        sa.Column("refresh_token_ttl_s", sa.Integer(), nullable=True),
        sa.Column("id_token_ttl_s", sa.Integer(), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
        sa.Column("updated_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_clients")),
    )
    op.create_table(
        "oidc_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("picture", sa.String(length=2000), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", _DT(), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_users")),
        sa.UniqueConstraint("email_key", name=op.f("uq_oidc_users_email_key")),
    )
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.String(length=80), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("auth_time", _DT(), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.Column("used_at", _DT(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_codes")),
    )
    op.create_index(op.f("ix_oidc_codes_expires_at"), "oidc_codes", ["expires_at"])
    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=80), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("auth_time", _DT(), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.Column("rotated_at", _DT(), nullable=True),
        sa.Column("successor_enc", sa.Text(), nullable=True),
        sa.Column("revoked_at", _DT(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oidc_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oidc_refresh_tokens_token_hash")),
    )
    op.create_index(op.f("ix_oidc_refresh_tokens_grant_id"), "oidc_refresh_tokens", ["grant_id"])
    op.create_index(op.f("ix_oidc_refresh_tokens_user_id"), "oidc_refresh_tokens", ["user_id"])
    op.create_table(
        "oidc_access_tokens",
        sa.Column("token_hash", sa.String(length=80), nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("issued_at", _DT(), nullable=False),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.Column("revoked_at", _DT(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oidc_access_tokens")),
    )
    op.create_index(op.f("ix_oidc_access_tokens_grant_id"), "oidc_access_tokens", ["grant_id"])
    op.create_index(op.f("ix_oidc_access_tokens_expires_at"), "oidc_access_tokens", ["expires_at"])
    op.create_table(
        "oidc_consents",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("granted_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_oidc_consents")),
    )
    op.create_table(
        "oidc_sessions",
        sa.Column("id_hash", sa.String(length=80), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("auth_time", _DT(), nullable=False),
        sa.Column("expires_at", _DT(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_oidc_sessions")),
    )
    op.create_index("ix_oidc_sessions_user_id", "oidc_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_oidc_sessions_user_id", table_name="oidc_sessions")
    op.drop_table("oidc_sessions")
    op.drop_table("oidc_consents")
    op.drop_index(op.f("ix_oidc_access_tokens_expires_at"), table_name="oidc_access_tokens")
    op.drop_index(op.f("ix_oidc_access_tokens_grant_id"), table_name="oidc_access_tokens")
    op.drop_table("oidc_access_tokens")
    op.drop_index(op.f("ix_oidc_refresh_tokens_user_id"), table_name="oidc_refresh_tokens")
    op.drop_index(op.f("ix_oidc_refresh_tokens_grant_id"), table_name="oidc_refresh_tokens")
    op.drop_table("oidc_refresh_tokens")
    op.drop_index(op.f("ix_oidc_codes_expires_at"), table_name="oidc_codes")
    op.drop_table("oidc_codes")
    op.drop_table("oidc_users")
    op.drop_table("oidc_clients")
