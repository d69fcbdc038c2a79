"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

A client registers itself at ``POST /register`` (open, or with an initial access token the
operator made), gets its ``client_id``, a secret unless it is public, and a registration access
token for ``/register/{client_id}``. That token is stored only as a hash, so every answer of
the configuration endpoint (read or update) carries a new one and voids the old (RFC 7592 §3
lets the server replace it; a hash cannot be shown again).

No HTTP here: ``routes/registration.py`` reads the request and calls these methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from pydantic import ValidationError

from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_id, random_secret
from tokend.core.errors import InvalidToken, Unauthorized
from tokend.core.json_input import parse_json
from tokend.core.jws_keys import VerificationKey, verification_key_from_jwk
from tokend.core.jwt import UntrustedToken, verify
from tokend.oidc.audit import Audit, AuditEvent
from tokend.oidc.client_cache import CachedClients
from tokend.oidc.client_metadata import (
    DESCRIPTIVE,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    Metadata,
    UnapprovedSoftwareStatement,
    validate_client_metadata,
)
from tokend.oidc.rate_limits import RateLimits
from tokend.oidc.records import AuthMethod, Client, ClientSource
from tokend.oidc.registration import create_client
from tokend.oidc.revocations import GrantRevoker
from tokend.oidc.schemas import ClientCreate
from tokend.oidc.settings import RegistrationSettings
from tokend.oidc.stores import ClientRegistry, InitialAccessTokenStore, RegistrationTokenStore

REGISTRATION_TOKEN_BYTES: Final = 32
#: RFC 7592 §2.2: what a client must not send in an update (the server sets these).
SERVER_SET: Final = frozenset(
    {"registration_access_token", "registration_client_uri", "client_id_issued_at",
     "client_secret_expires_at"}
)  # fmt: skip
#: JWT claims of a software statement that are not client metadata (RFC 7519 §4.1).
_JWT_CLAIMS: Final = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


def _unauthorized(description: str) -> Unauthorized:
    # RFC 6750 §3.1: no error code when no token was sent at all.
    return Unauthorized(description, headers={"WWW-Authenticate": 'Bearer realm="tokend"'})


@dataclass(frozen=True, slots=True)
class SoftwareStatements:
    """RFC 7591 §2.3: the keys whose signed statements this server trusts."""

    keys: Mapping[str, VerificationKey]

    @classmethod
    def of(cls, jwks_text: str | None) -> SoftwareStatements | None:
        if jwks_text is None:
            return None
        keys = [verification_key_from_jwk(jwk) for jwk in parse_json(jwks_text)["keys"]]
        return cls({key.kid: key for key in keys})

    def find(self, kid: str) -> VerificationKey | None:
        return self.keys.get(kid)

    def claims(self, statement: object, clock: Clock) -> Metadata:
        """The metadata the statement asserts; raises the RFC 7591 §3.2.2 errors."""
        if not isinstance(statement, str) or statement.count(".") != 2:
            raise InvalidSoftwareStatement("the software statement is not a signed JWT")
        try:
            claims = verify(
                statement,
                self,
                algorithms=frozenset(key.alg for key in self.keys.values()),
                issuer=None,
                audience=None,
                typ=None,
                leeway_s=60,
                clock=clock,
                required_claims=("iss",),
            )
        except UntrustedToken as exc:  # not signed by a key this server trusts
            raise UnapprovedSoftwareStatement(internal=exc.internal) from None
        except InvalidToken as exc:
            raise InvalidSoftwareStatement(exc.description, internal=exc.internal) from None
        return {k: v for k, v in claims.items() if k not in _JWT_CLAIMS}


@dataclass(frozen=True, slots=True)
class Registered:
    """A registration's answer: the client, and what is shown once."""

    client: Client
    registration_access_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Authorized:
    """A client whose registration access token checked out (RFC 7592 §2)."""

    client: Client
    token_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DynamicRegistration:
    policy: RegistrationSettings
    clients: ClientRegistry
    cached: CachedClients
    tokens: RegistrationTokenStore
    initial_tokens: InitialAccessTokenStore
    hasher: SecretHasher = field(repr=False)
    limits: RateLimits
    clock: Clock
    audit: Audit
    statements: SoftwareStatements | None
    #: Revokes a deleted client's grants (RFC 7592 §2.3).
    grants: GrantRevoker

    async def admit(self, initial_token: str | None, ip: str) -> None:
        """Before the body is read: the per-address limit, then the initial access token
        (RFC 7591 §3: required unless registration is open; one sent is checked anyway)."""
        await self.limits.hit("registration_per_ip", ip)
        if initial_token is None:
            if self.policy.mode == "initial_token":
                raise _unauthorized("an initial access token is required to register")
            return
        if not await self.initial_tokens.is_usable(
            self.hasher.candidates(initial_token), self.clock.now()
        ):
            raise InvalidToken("the initial access token is invalid, expired or used up")

    async def register(self, body: Mapping[str, object], initial_token: str | None) -> Registered:
        """RFC 7591 §3.1: check the metadata against the policy and store the client."""
        spec = self._spec(body, current=None)
        if initial_token is not None and not await self.initial_tokens.use(
            self.hasher.candidates(initial_token), self.clock.now()
        ):
            raise InvalidToken("the initial access token is invalid, expired or used up")
        client, secret = await create_client(
            self.clients, self.hasher, spec, source=ClientSource.DYNAMIC
        )
        token = random_secret(REGISTRATION_TOKEN_BYTES)
        await self.tokens.put(client.client_id, self.hasher.hash(token), self.clock.now())
        stored = await self.clients.get(client.client_id) or client
        self.audit.record(AuditEvent.CLIENT_REGISTERED, client_id=client.client_id)
        return Registered(stored, token, secret)

    async def read(self, client_id: str, token: str) -> Registered:
        """RFC 7592 §2.1, with a new registration access token (see the module's text)."""
        found = await self.authorized(client_id, token)
        return Registered(found.client, await self._rotate(client_id, found.token_hash))

    async def update(self, found: Authorized, body: Mapping[str, object]) -> Registered:
        """RFC 7592 §2.2: the body replaces every metadata value; the secret stays."""
        client, stored_hash = found.client, found.token_hash
        client_id = client.client_id
        if body.get("client_id") != client_id:
            raise InvalidClientMetadata("client_id must be sent and match the client's")
        sent_server_set = sorted(SERVER_SET & set(body))
        if sent_server_set:
            raise InvalidClientMetadata(f"the server sets {', '.join(sent_server_set)}")
        secret = body.get("client_secret")
        if secret is not None and (
            not isinstance(secret, str)
            or client.secret_hash is None
            or not self.hasher.verify(secret, client.secret_hash)
        ):
            raise InvalidClientMetadata("client_secret does not match the client's")
        spec = self._spec(body, current=client)
        new_token = await self._rotate(client_id, stored_hash)
        updated = spec.to_client(client_id, client.secret_hash, client.source, client.issued_at)
        await self.clients.replace(updated)
        await self.cached.forget(client_id)
        self.audit.record(AuditEvent.CLIENT_UPDATED, client_id=client_id)
        return Registered(updated, new_token)

    async def delete(self, client_id: str, token: str) -> None:
        """RFC 7592 §2.3: the client and its registration access token go, and the grants its
        users gave it are revoked (``GrantRevoker.revoke_client``)."""
        await self.authorized(client_id, token)
        await self.clients.remove(client_id)
        await self.tokens.delete(client_id)
        await self.cached.forget(client_id)
        self.audit.record(AuditEvent.CLIENT_DELETED, client_id=client_id)
        revoked = await self.grants.revoke_client(client_id)
        self.audit.record(
            AuditEvent.GRANTS_REVOKED, client_id=client_id, reason="client_deleted", grants=revoked
        )

    async def authorized(self, client_id: str, token: str) -> Authorized:
        """The client, once its registration access token checks out; InvalidToken (401)."""
        # RFC 7592 §2: an unknown client and a wrong token look the same (401 invalid_token).
        stored_hash = await self.tokens.hash_of(client_id) if len(client_id) <= 64 else None
        if stored_hash is None or not self.hasher.verify(token, stored_hash):
            raise InvalidToken("the registration access token is invalid or was replaced")
        client = await self.clients.get(client_id)
        if client is None:
            raise InvalidToken("the registration access token is invalid or was replaced")
        return Authorized(client, stored_hash)

    async def _rotate(self, client_id: str, stored_hash: str) -> str:
        token = random_secret(REGISTRATION_TOKEN_BYTES)
        if not await self.tokens.rotate(
            client_id, stored_hash, self.hasher.hash(token), self.clock.now()
        ):  # another request with the same token rotated it first
            raise InvalidToken("the registration access token is invalid or was replaced")
        return token

    def _spec(self, body: Mapping[str, object], current: Client | None) -> ClientCreate:
        raw = dict(body)
        statement = raw.pop("software_statement", None)
        if statement is not None:
            if self.statements is None:
                raise UnapprovedSoftwareStatement("this server trusts no software statements")
            # RFC 7591 §2.3: the statement's values take precedence over the plain ones.
            raw.update(self.statements.claims(statement, self.clock))
        elif self.policy.require_software_statement:
            raise InvalidSoftwareStatement("a software statement is required here")
        meta = validate_client_metadata(raw)
        self._check_policy(meta)
        method = meta["token_endpoint_auth_method"]
        if current is not None and current.is_public != (method == AuthMethod.NONE.value):
            raise InvalidClientMetadata("a client cannot change between public and confidential")
        try:
            return ClientCreate.model_validate(
                {
                    "name": meta.get("client_name") or "unnamed client",
                    "grant_types": meta["grant_types"],
                    "redirect_uris": meta["redirect_uris"],
                    "post_logout_redirect_uris": meta.get("post_logout_redirect_uris", []),
                    "scope": meta.get("scope", self.policy.default_scope),
                    "audiences": list(self.policy.audiences),
                    "public": method == AuthMethod.NONE.value,
                    "token_endpoint_auth_method": method,
                    "jwks": meta.get("jwks"),
                    "jwks_uri": meta.get("jwks_uri"),
                    "metadata": {k: v for k, v in meta.items() if k in DESCRIPTIVE},
                    # CIBA Core §4.
                    "backchannel_token_delivery_mode": meta.get("backchannel_token_delivery_mode"),
                    "backchannel_client_notification_endpoint": meta.get(
                        "backchannel_client_notification_endpoint"
                    ),
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidClientMetadata(
                f"{where}: {first['msg']}" if where else first["msg"]
            ) from None

    def _check_policy(self, meta: Metadata) -> None:
        """The operator's limits for self-registered clients (``oidc.registration``)."""
        grants = meta["grant_types"]
        assert isinstance(grants, list)
        refused = sorted(set(grants) - set(self.policy.allowed_grant_types))
        if refused:
            raise InvalidClientMetadata(f"grant types not allowed here: {' '.join(refused)}")
        if meta["token_endpoint_auth_method"] not in self.policy.allowed_auth_methods:
            raise InvalidClientMetadata("this token_endpoint_auth_method is not allowed here")
        scope = meta.get("scope", self.policy.default_scope)
        assert isinstance(scope, str)
        extra = sorted(set(scope.split()) - set(self.policy.allowed_scopes.split()))
        if extra:
            raise InvalidClientMetadata(f"scopes not allowed here: {' '.join(extra)[:200]}")


def client_information(registered: Registered, issuer: str) -> dict[str, object]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: every registered value, and the credentials."""
    client = registered.client
    body: dict[str, object] = {
        "client_id": client.client_id,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": sorted(client.grant_types),
        "response_types": sorted(client.response_types),
        "token_endpoint_auth_method": client.auth_method.value,
        "scope": " ".join(sorted(client.scopes)),
        **client.metadata,
        "registration_access_token": registered.registration_access_token,
        "registration_client_uri": f"{issuer}/register/{client.client_id}",
    }
    if client.post_logout_redirect_uris:
        body["post_logout_redirect_uris"] = list(client.post_logout_redirect_uris)
    if client.jwks is not None:
        body["jwks"] = dict(client.jwks)
    if client.jwks_uri is not None:
        body["jwks_uri"] = client.jwks_uri
    if client.backchannel_token_delivery_mode is not None:
        # CIBA Core §4.
        body["backchannel_token_delivery_mode"] = client.backchannel_token_delivery_mode
        body["backchannel_user_code_parameter"] = False
    if client.backchannel_client_notification_endpoint is not None:
        body["backchannel_client_notification_endpoint"] = (
            client.backchannel_client_notification_endpoint
        )
    if client.issued_at is not None:
        body["client_id_issued_at"] = int(client.issued_at.timestamp())
    if not client.is_public:
        # §3.2.1: required with a secret; 0: it does not expire.
        body["client_secret_expires_at"] = 0
    if registered.client_secret is not None:
        body["client_secret"] = registered.client_secret
    return body


async def create_initial_access_token(
    store: InitialAccessTokenStore,
    hasher: SecretHasher,
    clock: Clock,
    ttl_s: int,
    max_uses: int | None,
) -> str:
    """RFC 7591 §3: a new initial access token (shown once, stored as a hash) that allows
    ``max_uses`` registrations (None: any number) for ``ttl_s`` seconds."""
    token = random_secret(REGISTRATION_TOKEN_BYTES)
    now = clock.now()
    expires_at = now + timedelta(seconds=ttl_s)
    await store.add(random_id("iat_"), hasher.hash(token), expires_at, max_uses, now)
    return token
