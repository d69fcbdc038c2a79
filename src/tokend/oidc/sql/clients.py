"""Clients in ``oidc_clients``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from tokend.core.clock import Clock
from tokend.core.errors import Conflict, NotFound
from tokend.oidc.models import OidcClientRow
from tokend.oidc.records import (
    AuthMethod,
    Client,
    ClientSource,
    RoleClaimShape,
    TokenExchangePolicy,
    TokenFormat,
)
from tokend.oidc.sql._rows import rowcount, scope_text, scopes_of
from tokend.store.engine import Database


def client_of(row: OidcClientRow) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        is_public=row.is_public,
        redirect_uris=tuple(row.redirect_uris),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        grant_types=frozenset(row.grant_types),
        response_types=frozenset(row.response_types),
        scopes=scopes_of(row.scope),
        audiences=tuple(row.audiences),
        auth_method=AuthMethod(row.token_endpoint_auth_method),
        token_format=TokenFormat(row.access_token_format),
        require_pkce=row.require_pkce,
        skip_consent=row.skip_consent,
        access_token_ttl_s=row.access_token_ttl_s,
        refresh_token_ttl_s=row.refresh_token_ttl_s,
        id_token_ttl_s=row.id_token_ttl_s,
        refresh_grace_s=row.refresh_grace_s,
        vault_clients=tuple(row.vault_clients),
        role_claims=RoleClaimShape(row.role_claims or RoleClaimShape.FLAT),
        disabled=row.disabled,
        secret_hash=row.secret_hash,
        source=ClientSource(row.source),
        issued_at=row.created_at,
        jwks=row.jwks,
        jwks_uri=row.jwks_uri,
        metadata=dict(row.client_metadata or {}),
        token_exchange=TokenExchangePolicy.of_json(row.token_exchange),
        jwt_introspection=row.jwt_introspection,
        web_origins=tuple(row.web_origins or ()),
        backchannel_logout_uri=row.backchannel_logout_uri,
        backchannel_logout_session_required=row.backchannel_logout_session_required,
        token_endpoint_auth_signing_alg=row.token_endpoint_auth_signing_alg,
        require_pushed_authorization_requests=row.require_pushed_authorization_requests,
        require_signed_request_object=row.require_signed_request_object,
        request_object_signing_alg=row.request_object_signing_alg,
        dpop_bound_access_tokens=row.dpop_bound_access_tokens,
        fapi2_profile=row.fapi2_profile,
        require_mfa=row.require_mfa,
        subject_type=row.subject_type,
        sector_identifier_uri=row.sector_identifier_uri,
        secret_enc=row.secret_enc,
        backchannel_token_delivery_mode=row.backchannel_token_delivery_mode,
        backchannel_client_notification_endpoint=row.backchannel_client_notification_endpoint,
    )


def _client_values(client: Client) -> dict[str, object]:
    return {
        "name": client.name,
        "secret_hash": client.secret_hash,
        "is_public": client.is_public,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": sorted(client.grant_types),
        "response_types": sorted(client.response_types),
        "scope": scope_text(client.scopes),
        "audiences": list(client.audiences),
        "token_endpoint_auth_method": client.auth_method.value,
        "access_token_format": client.token_format.value,
        "require_pkce": client.require_pkce,
        "skip_consent": client.skip_consent,
        "access_token_ttl_s": client.access_token_ttl_s,
        "refresh_token_ttl_s": client.refresh_token_ttl_s,
        "id_token_ttl_s": client.id_token_ttl_s,
        "role_claims": client.role_claims.value,
        "refresh_grace_s": client.refresh_grace_s,
        "vault_clients": list(client.vault_clients),
        "disabled": client.disabled,
        "source": client.source.value,
        "jwks": dict(client.jwks) if client.jwks is not None else None,
        "jwks_uri": client.jwks_uri,
        "client_metadata": dict(client.metadata),
        "token_exchange": client.token_exchange.to_json() if client.token_exchange else None,
        "jwt_introspection": client.jwt_introspection,
        "web_origins": list(client.web_origins),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg,
        "secret_enc": client.secret_enc,
        "subject_type": client.subject_type,
        "sector_identifier_uri": client.sector_identifier_uri,
        "fapi2_profile": client.fapi2_profile,
        "require_mfa": client.require_mfa,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_signed_request_object": client.require_signed_request_object,
        "request_object_signing_alg": client.request_object_signing_alg,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "backchannel_token_delivery_mode": client.backchannel_token_delivery_mode,
        "backchannel_client_notification_endpoint": (
            client.backchannel_client_notification_endpoint
        ),
    }


@dataclass(frozen=True, slots=True)
class SqlClients:
    db: Database
    clock: Clock

    async def get(self, client_id: str) -> Client | None:
        async with self.db.sessions() as session:
            row = await session.get(OidcClientRow, client_id)
            return client_of(row) if row is not None else None

    async def add(self, client: Client) -> None:
        stamp = self.clock.now()
        row = OidcClientRow(
            client_id=client.client_id, created_at=stamp, updated_at=stamp, **_client_values(client)
        )
        try:
            async with self.db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise Conflict(f"client {client.client_id} already exists") from None

    async def replace(self, client: Client) -> None:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                update(OidcClientRow)
                .where(OidcClientRow.client_id == client.client_id)
                .values(updated_at=self.clock.now(), **_client_values(client))
            )
            if rowcount(result) == 0:
                raise NotFound(f"no client {client.client_id}")

    async def remove(self, client_id: str) -> bool:
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                delete(OidcClientRow).where(OidcClientRow.client_id == client_id)
            )
            return rowcount(result) > 0

    async def all(self) -> Sequence[Client]:
        async with self.db.sessions() as session:
            rows = await session.scalars(select(OidcClientRow).order_by(OidcClientRow.client_id))
            return [client_of(row) for row in rows]
