"""RFC 6749 §4.4 client credentials: a JWT (or opaque) access token for the client itself.

The hot path: the client comes from the cache, its secret was checked with one HMAC, the key
is in memory and a JWT access token is written nowhere.
"""

from __future__ import annotations

from typing import Final

from tokend.core.admin_auth import ADMIN_SCOPE, admin_audience
from tokend.core.errors import UnauthorizedClient
from tokend.oidc.grants.protocol import (
    GrantDeps,
    TokenRequest,
    TokenResponse,
    access_ttl_s,
    audience_for,
    narrow_scopes,
)
from tokend.oidc.records import USER_SCOPES, Client
from tokend.oidc.revocations import client_grant_id
from tokend.oidc.tokens import AccessGrant

GRANT_TYPE: Final = "client_credentials"
PARAMETERS: Final = frozenset({"scope"})


async def handle(req: TokenRequest, client: Client, deps: GrantDeps) -> TokenResponse:
    # RFC 6749 §4.4: confidential clients only.
    if client.is_public or not client.allows_grant(GRANT_TYPE):
        raise UnauthorizedClient("this client may not use client_credentials")
    # End-user scopes mean nothing without an end user.
    scopes = narrow_scopes(req.scopes, client.scopes - USER_SCOPES)
    # A client granted tokend:admin acts as an admin itself, so its token is also for the
    # admin surfaces (core.admin_auth). A user's token never is by default: the scope says what
    # the client may do, and is no reason to make every user who signs in there an admin.
    admin = (admin_audience(deps.issuer),) if ADMIN_SCOPE in scopes else ()
    token = await deps.tokens.access_token(
        client,
        AccessGrant(
            client_id=client.client_id,
            subject=client.client_id,
            user_id=None,
            scopes=scopes,
            audience=audience_for(client, req.resources, deps.issuer, also=admin),
            ttl_s=access_ttl_s(client, deps),
            # One grant per client: deleting the client revokes every token it was given.
            grant_id=client_grant_id(client.client_id),
            vault_clients=client.vault_clients,
            jkt=req.dpop_jkt,
        ),
    )
    deps.audit.issued(GRANT_TYPE)
    # §4.4.3: no refresh token here.
    return TokenResponse(token, issued_at=deps.clock.now())
