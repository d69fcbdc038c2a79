"""The provider once the lifespan opened its resources: what the endpoints are handed."""

from __future__ import annotations

from dataclasses import dataclass, field

from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.crypto import PasswordHasher, SecretHasher
from tokend.core.keys import Keyring
from tokend.jobs.base import Jobs
from tokend.oidc.audit import Audit
from tokend.oidc.client_auth import ClientAuthenticator
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.email_links import EmailLinks
from tokend.oidc.grants import GrantDeps
from tokend.oidc.interactions import Interactions
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.revocations import Revocations
from tokend.oidc.settings import OidcSettings
from tokend.oidc.sql import SqlClients, SqlConsents, SqlSessions, SqlUsers
from tokend.oidc.tokens import AccessTokenReader, TokenIssuer


@dataclass(frozen=True, slots=True)
class Provider:
    settings: OidcSettings
    issuer: str
    clock: Clock
    keyring: Keyring
    #: Only for what may be lost: pending sign-ins and mail links live in the database.
    cache: TieredCache
    hasher: SecretHasher = field(repr=False)
    passwords: PasswordHasher
    clients: CachedClients
    client_registry: SqlClients
    users: SqlUsers
    consents: SqlConsents
    sessions: SqlSessions
    authenticator: ClientAuthenticator
    grant_deps: GrantDeps
    tokens: TokenIssuer
    reader: AccessTokenReader
    revocations: Revocations
    audit: Audit
    limits: RateLimits
    email_links: EmailLinks
    interactions: Interactions
    jobs: Jobs
    #: The keyring algorithm that signs access tokens / ID tokens.
    access_token_alg: str
    id_token_alg: str
