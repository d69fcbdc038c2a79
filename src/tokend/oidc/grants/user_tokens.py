"""Tokens for an end user's grant, shared by the authorization_code and refresh_token grants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tokend.core.crypto import random_id, random_secret
from tokend.core.errors import InvalidGrant
from tokend.oidc.admin_scope import AdminScopeRule
from tokend.oidc.grants.protocol import GrantDeps, access_ttl_s, audience_for
from tokend.oidc.records import Client, RefreshToken, User
from tokend.oidc.role_claims import role_claims
from tokend.oidc.tokens import AccessGrant, IssuedToken

REFRESH_GRANT = "refresh_token"


@dataclass(frozen=True, slots=True)
class UserGrant:
    """One authorization of ``client`` by ``user``: what every token of the grant carries."""

    grant_id: str
    client: Client
    user: User
    scopes: frozenset[str]
    auth_time: datetime
    acr: str | None
    #: RFC 9449: the DPoP key of this token request; tokens are bound to it.
    dpop_jkt: str | None = None
    #: RFC 8176 methods of the sign-in, and its browser session (Back-Channel Logout ``sid``),
    #: which refreshed ID tokens repeat.
    amr: tuple[str, ...] = ()
    sid: str | None = None


async def active_user(deps: GrantDeps, user_id: str) -> User:
    return active(await deps.users.by_id(user_id))


def active(user: User | None) -> User:
    """The grant's user, if it still exists and is not disabled."""
    if user is None or user.disabled:
        raise InvalidGrant("the user of this grant is no longer active")
    return user


async def access_token_for(
    grant: UserGrant, deps: GrantDeps, resources: tuple[str, ...] = ()
) -> IssuedToken:
    """The grant's access token; the token response's ``scope`` is the token's (RFC 6749 §5.1)."""
    audience = audience_for(grant.client, resources, deps.issuer)
    # tokend:admin only for a user who may hold it (oidc.admin_scope), checked at every issue.
    rule = AdminScopeRule(deps.settings.admin_scope_role)
    scopes = rule.narrow(grant.scopes, grant.user, grant.client.client_id)
    return await deps.tokens.access_token(
        grant.client,
        AccessGrant(
            client_id=grant.client.client_id,
            subject=grant.user.id,
            user_id=grant.user.id,
            scopes=scopes,
            audience=audience,
            ttl_s=access_ttl_s(grant.client, deps),
            grant_id=grant.grant_id,
            auth_time=grant.auth_time,
            vault_clients=grant.client.vault_clients,
            jkt=grant.dpop_jkt,
            role_claims=role_claims(grant.user, grant.client, scopes, audience),
            acr=grant.acr,
            amr=grant.amr,
        ),
    )


def wants_refresh_token(grant: UserGrant) -> bool:
    # OIDC Core §11: offline access is asked for with the offline_access scope.
    return "offline_access" in grant.scopes and grant.client.allows_grant(REFRESH_GRANT)


def new_refresh_token(grant: UserGrant, deps: GrantDeps) -> tuple[RefreshToken, str]:
    """A refresh token of the grant and its value (stored only as a hash)."""
    ttl_s = grant.client.refresh_token_ttl_s or deps.settings.refresh_token_ttl_s
    token = RefreshToken(
        id=random_id("rt_"),
        grant_id=grant.grant_id,
        client_id=grant.client.client_id,
        user_id=grant.user.id,
        scopes=grant.scopes,
        auth_time=grant.auth_time,
        acr=grant.acr,
        expires_at=deps.clock.now() + timedelta(seconds=ttl_s),
        # RFC 9449 §5: a public client's refresh token is bound to its DPoP key (a
        # confidential client's is bound to the client by its authentication).
        dpop_jkt=grant.dpop_jkt if grant.client.is_public else None,
        amr=grant.amr,
        sid=grant.sid,
    )
    return token, random_secret(32)


async def keep_grant_claims(
    grant: UserGrant, deps: GrantDeps, access: IssuedToken, refresh: RefreshToken | None
) -> None:
    """OIDC Core §5.5: the grant's UserInfo claims (if any) stay as long as its newest access
    and refresh tokens may be used."""
    if deps.grant_claims is None:
        return
    await deps.grant_claims.extend(grant.grant_id, claims_until(access, refresh))


def claims_until(access: IssuedToken, refresh: RefreshToken | None) -> datetime:
    """How long a grant's UserInfo claims must be kept for its newest tokens."""
    return access.expires_at if refresh is None else max(access.expires_at, refresh.expires_at)
