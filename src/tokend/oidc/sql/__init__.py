"""SQLAlchemy implementations of the provider's stores (SQLite and PostgreSQL)."""

from tokend.oidc.sql.clients import SqlClients, client_of
from tokend.oidc.sql.grants import SqlCodes, SqlRefreshTokens
from tokend.oidc.sql.pending import SqlEmailLinks, SqlInteractions
from tokend.oidc.sql.revocations import SqlRevocations
from tokend.oidc.sql.sessions import SqlConsents, SqlSessions
from tokend.oidc.sql.users import SqlUsers, user_of

__all__ = [
    "SqlClients",
    "SqlCodes",
    "SqlConsents",
    "SqlEmailLinks",
    "SqlInteractions",
    "SqlRefreshTokens",
    "SqlRevocations",
    "SqlSessions",
    "SqlUsers",
    "client_of",
    "user_of",
]
