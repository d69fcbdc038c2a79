"""Client lookups for the hot paths, cached (memory, and Redis when configured).

Changes made through the admin API drop the cached copy at once; changes made by the CLI in
another process are seen when the entry expires (``oidc.client_cache_ttl_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokend.cache.codec import json_records, set_json
from tokend.cache.decoded import MISS, DecodedCopies
from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.oidc.records import (
    AuthMethod,
    Client,
    ClientSource,
    RoleClaimShape,
    TokenExchangePolicy,
    TokenFormat,
)
from tokend.oidc.stores import ClientStore

_MISSING: dict[str, Any] = {}


def _key(client_id: str) -> str:
    return f"oidc:client:{client_id}"


@dataclass(frozen=True, slots=True)
class CachedClients:
    store: ClientStore
    cache: TieredCache
    ttl_s: float
    #: When an entry expires under load, the requests in flight share one store lookup.
    flights: SingleFlight = field(default_factory=SingleFlight)
    #: The Client last decoded from each cached entry: while the entry is the same, a lookup
    #: skips the JSON decoding and building the Client (a tenth of a client_credentials
    #: request). A Client is frozen, so one copy serves every request.
    decoded: DecodedCopies[Client | None] = field(
        default_factory=lambda: DecodedCopies(json_records(_client_from_json))
    )

    async def get(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        key = _key(client_id)
        cached = await self.decoded.read(self.cache, key)
        if cached is not MISS:
            return cached
        return await self.flights.run(key, lambda: self._load(client_id))

    async def _load(self, client_id: str) -> Client | None:
        client = await self.store.get(client_id)
        if client is not None and client.disabled:
            client = None  # to the provider's flows, a disabled client does not exist
        if self.ttl_s > 0:
            value = _client_to_json(client) if client is not None else _MISSING
            await set_json(self.cache, _key(client_id), value, self.ttl_s)
        return client

    async def forget(self, client_id: str) -> None:
        await self.cache.delete(_key(client_id))


def _client_to_json(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "is_public": client.is_public,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": sorted(client.grant_types),
        "response_types": sorted(client.response_types),
        "scopes": sorted(client.scopes),
        "audiences": list(client.audiences),
        "auth_method": client.auth_method.value,
        "token_format": client.token_format.value,
        "require_pkce": client.require_pkce,
        "skip_consent": client.skip_consent,
        "access_token_ttl_s": client.access_token_ttl_s,
        "refresh_token_ttl_s": client.refresh_token_ttl_s,
        "id_token_ttl_s": client.id_token_ttl_s,
        "refresh_grace_s": client.refresh_grace_s,
        "vault_clients": list(client.vault_clients),
        "role_claims": client.role_claims.value,
        "secret_hash": client.secret_hash,
        "source": client.source.value,
        "jwks": dict(client.jwks) if client.jwks is not None else None,
        "jwks_uri": client.jwks_uri,
        "metadata": dict(client.metadata),
        "token_exchange": client.token_exchange.to_json() if client.token_exchange else None,
        "jwt_introspection": client.jwt_introspection,
        "web_origins": list(client.web_origins),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "token_endpoint_auth_signing_alg": client.token_endpoint_auth_signing_alg,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "require_signed_request_object": client.require_signed_request_object,
        "request_object_signing_alg": client.request_object_signing_alg,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "fapi2_profile": client.fapi2_profile,
        "require_mfa": client.require_mfa,
        "subject_type": client.subject_type,
        "sector_identifier_uri": client.sector_identifier_uri,
        "secret_enc": client.secret_enc,
        "backchannel_token_delivery_mode": client.backchannel_token_delivery_mode,
        "backchannel_client_notification_endpoint": client.backchannel_client_notification_endpoint,
    }


def _client_from_json(data: dict[str, Any]) -> Client | None:
    try:
        return Client(
            client_id=data["client_id"],
            name=data["name"],
            is_public=bool(data["is_public"]),
            redirect_uris=tuple(data["redirect_uris"]),
            post_logout_redirect_uris=tuple(data["post_logout_redirect_uris"]),
            grant_types=frozenset(data["grant_types"]),
            response_types=frozenset(data["response_types"]),
            scopes=frozenset(data["scopes"]),
            audiences=tuple(data["audiences"]),
            auth_method=AuthMethod(data["auth_method"]),
            token_format=TokenFormat(data["token_format"]),
            require_pkce=bool(data["require_pkce"]),
            skip_consent=bool(data["skip_consent"]),
            access_token_ttl_s=data["access_token_ttl_s"],
            refresh_token_ttl_s=data["refresh_token_ttl_s"],
            id_token_ttl_s=data["id_token_ttl_s"],
            # .get: an entry cached by the previous release (Redis) lacks it.
            refresh_grace_s=data.get("refresh_grace_s"),
            # An entry of the previous release lacks it: no tenant (the secure side).
            vault_clients=tuple(int(pk) for pk in data.get("vault_clients", ())),
            role_claims=RoleClaimShape(data.get("role_claims", RoleClaimShape.FLAT)),
            secret_hash=data["secret_hash"],
            # .get: an entry cached by the previous release (Redis) lacks these.
            source=ClientSource(data.get("source", ClientSource.ADMIN)),
            jwks=data.get("jwks"),
            jwks_uri=data.get("jwks_uri"),
            metadata=data.get("metadata") or {},
            token_exchange=TokenExchangePolicy.of_json(data.get("token_exchange")),
            jwt_introspection=bool(data.get("jwt_introspection", False)),
            web_origins=tuple(str(o) for o in data.get("web_origins", ())),
            backchannel_logout_uri=data.get("backchannel_logout_uri"),
            backchannel_logout_session_required=bool(
                data.get("backchannel_logout_session_required", False)
            ),
            token_endpoint_auth_signing_alg=data.get("token_endpoint_auth_signing_alg"),
            require_pushed_authorization_requests=bool(
                data.get("require_pushed_authorization_requests", False)
            ),
            require_signed_request_object=bool(data.get("require_signed_request_object", False)),
            request_object_signing_alg=data.get("request_object_signing_alg"),
            dpop_bound_access_tokens=bool(data.get("dpop_bound_access_tokens", False)),
            fapi2_profile=bool(data.get("fapi2_profile", False)),
            require_mfa=bool(data.get("require_mfa", False)),
            subject_type=str(data.get("subject_type", "public")),
            sector_identifier_uri=data.get("sector_identifier_uri"),
            secret_enc=data.get("secret_enc"),
            # .get: an entry cached by the previous release (Redis) lacks these.
            backchannel_token_delivery_mode=data.get("backchannel_token_delivery_mode"),
            backchannel_client_notification_endpoint=data.get(
                "backchannel_client_notification_endpoint"
            ),
        )
    except (KeyError, TypeError, ValueError):
        return None
