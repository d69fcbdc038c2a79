"""SQLAlchemy implementations of the provider's stores (SQLite and PostgreSQL)."""

from tokend.oidc.sql.backchannel_requests import SqlBackchannelRequests
from tokend.oidc.sql.clients import SqlClients
from tokend.oidc.sql.devices import SqlDeviceCodes
from tokend.oidc.sql.factors import SqlFactors
from tokend.oidc.sql.grant_claims import SqlGrantClaims
from tokend.oidc.sql.grants import SqlCodes, SqlRefreshTokens
from tokend.oidc.sql.known_devices import SqlKnownDevices
from tokend.oidc.sql.logout_sessions import SqlLogoutSessions
from tokend.oidc.sql.opaque_tokens import SqlOpaqueTokens
from tokend.oidc.sql.passkeys import SqlPasskeys
from tokend.oidc.sql.pending import SqlEmailLinks, SqlInteractions
from tokend.oidc.sql.registration import SqlInitialAccessTokens, SqlRegistrationTokens
from tokend.oidc.sql.sessions import SqlConsents, SqlSessions
from tokend.oidc.sql.upstream_links import SqlUpstreamLinks
from tokend.oidc.sql.upstreams import SqlUpstreams
from tokend.oidc.sql.users import SqlUsers

__all__ = [
    "SqlBackchannelRequests",
    "SqlClients",
    "SqlCodes",
    "SqlConsents",
    "SqlDeviceCodes",
    "SqlEmailLinks",
    "SqlFactors",
    "SqlGrantClaims",
    "SqlInitialAccessTokens",
    "SqlInteractions",
    "SqlKnownDevices",
    "SqlLogoutSessions",
    "SqlOpaqueTokens",
    "SqlPasskeys",
    "SqlRefreshTokens",
    "SqlRegistrationTokens",
    "SqlSessions",
    "SqlUpstreamLinks",
    "SqlUpstreams",
    "SqlUsers",
]
