"""Access tokens (RFC 9068 JWT or opaque, per client), ID tokens, and reading them back.

Both formats satisfy :class:`AccessTokens`, so no grant branches on the format. JWT access
tokens are never written anywhere: revoking one is a deny-list entry (``core.revocations``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Protocol

from tokend.cache.codec import json_records, set_json
from tokend.cache.decoded import MISS, DecodedCopies
from tokend.cache.single_flight import SingleFlight
from tokend.cache.tiered import TieredCache
from tokend.core.clock import Clock
from tokend.core.crypto import SecretHasher, random_id, random_secret
from tokend.core.errors import InvalidToken
from tokend.core.jwt import KeySource, SigningKey, mint, verify
from tokend.core.revocations import RevocationCheck
from tokend.oidc.authn_context import amr_of
from tokend.oidc.records import Client, OpaqueAccessToken, TokenFormat, User
from tokend.oidc.stores import OpaqueTokenStore

AT_JWT_TYP: Final = "at+jwt"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str = field(repr=False)
    jti: str
    expires_at: datetime
    scopes: frozenset[str]
    #: RFC 9449 §6: the DPoP key the token is bound to; its token_type is then DPoP.
    jkt: str | None = None


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What an access token stands for."""

    client_id: str
    #: The user for user grants, the client itself for client_credentials (RFC 9068 §2.2).
    subject: str
    user_id: str | None
    scopes: frozenset[str]
    audience: tuple[str, ...]
    ttl_s: int
    grant_id: str | None = None
    auth_time: datetime | None = None
    #: The client's vault tenants (``Client.vault_clients``), the ``vault_clients`` claim.
    vault_clients: tuple[int, ...] = ()
    #: RFC 9449 §6: bind the token to this DPoP key (``cnf.jkt``).
    jkt: str | None = None
    #: The user's roles and groups (``role_claims``) when the ``roles`` scope is granted.
    role_claims: Mapping[str, object] = field(default_factory=dict)
    #: RFC 8693 §4.1: the acting party (and, nested, those before it); JWT access tokens only.
    act: Mapping[str, object] | None = field(default=None, hash=False)
    #: RFC 9068 §2.2.1: how the user signed in (``acr``, RFC 8176 ``amr``); JWT access tokens.
    acr: str | None = None
    amr: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An active token as introspection (RFC 7662 §2.2) describes it."""

    token_type: str  # "access_token" or "refresh_token"
    client_id: str
    subject: str
    user_id: str | None
    scopes: frozenset[str]
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    jti: str | None
    grant_id: str | None
    #: RFC 9449 §6: the DPoP key thumbprint the token is bound to.
    jkt: str | None = None
    #: RFC 8693 §4.1 ``act`` of an exchanged token; None otherwise.
    act: Mapping[str, object] | None = field(default=None, hash=False)
    #: OIDC Core §2 ``auth_time`` of a user's token, when it carries one.
    auth_time: datetime | None = None
    #: RFC 9068 §2.2.1 ``acr`` and ``amr`` of a user's token, when it carries them.
    acr: str | None = None
    amr: tuple[str, ...] = ()


class AccessTokens(Protocol):
    async def issue(self, grant: AccessGrant) -> IssuedToken: ...


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class JwtAccessTokens:
    """RFC 9068 JWT access tokens signed with the keyring's access-token key; no I/O."""

    signing_key: Callable[[], SigningKey]
    issuer: str
    clock: Clock

    async def issue(self, grant: AccessGrant) -> IssuedToken:
        now = self.clock.now()
        expires_at = now + timedelta(seconds=grant.ttl_s)
        jti = random_id()
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": grant.subject,
            "aud": grant.audience[0] if len(grant.audience) == 1 else list(grant.audience),
            "exp": _epoch(expires_at),
            "iat": _epoch(now),
            "jti": jti,
            "client_id": grant.client_id,
            "scope": " ".join(sorted(grant.scopes)),
        }
        if grant.auth_time is not None:
            claims["auth_time"] = _epoch(grant.auth_time)
        # RFC 9068 §2.2.1: the authentication's context class and methods, for resource servers
        # that ask how the user signed in (step-up decisions).
        if grant.acr is not None:
            claims["acr"] = grant.acr
        if grant.amr:
            claims["amr"] = list(grant.amr)
        if grant.grant_id is not None:
            claims["gid"] = grant.grant_id
        if grant.vault_clients:
            # The vault's tenants this token may reach; without it, none (vault.access).
            claims["vault_clients"] = list(grant.vault_clients)
        if grant.jkt is not None:
            claims["cnf"] = {"jkt": grant.jkt}  # RFC 9449 §6.1
        # Never over a registered claim: role_claims() writes only roles, groups and the
        # Keycloak shape's realm_access/resource_access.
        claims.update({k: v for k, v in grant.role_claims.items() if k not in claims})
        if grant.act is not None:
            claims["act"] = dict(grant.act)
        # RFC 9068 §2.1: typ "at+jwt" keeps access tokens apart from ID tokens.
        value = mint(claims, self.signing_key(), typ=AT_JWT_TYP)
        return IssuedToken(value, jti, expires_at, grant.scopes, grant.jkt)


@dataclass(frozen=True, slots=True)
class OpaqueAccessTokens:
    """Random access tokens stored as hashes; introspection looks them up."""

    store: OpaqueTokenStore
    hasher: SecretHasher
    clock: Clock

    async def issue(self, grant: AccessGrant) -> IssuedToken:
        now = self.clock.now()
        expires_at = now + timedelta(seconds=grant.ttl_s)
        value, jti = random_secret(32), random_id()
        await self.store.add(
            OpaqueAccessToken(
                token_hash=self.hasher.hash(value),
                jti=jti,
                grant_id=grant.grant_id,
                client_id=grant.client_id,
                user_id=grant.user_id,
                scopes=grant.scopes,
                audience=grant.audience,
                issued_at=now,
                expires_at=expires_at,
                dpop_jkt=grant.jkt,
            )
        )
        return IssuedToken(value, jti, expires_at, grant.scopes, grant.jkt)


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    """Picks the client's access-token format and mints ID tokens."""

    jwt: AccessTokens
    opaque: AccessTokens
    id_token_key: Callable[[], SigningKey]
    issuer: str
    clock: Clock

    async def access_token(self, client: Client, grant: AccessGrant) -> IssuedToken:
        strategy = self.opaque if client.token_format is TokenFormat.OPAQUE else self.jwt
        return await strategy.issue(grant)

    def id_token(
        self,
        *,
        client: Client,
        user: User,
        scopes: frozenset[str],
        nonce: str | None,
        auth_time: datetime,
        acr: str | None,
        access_token: str | None,
        ttl_s: int,
        requested: Mapping[str, object] | None = None,
        subject: str | None = None,
        role_claims: Mapping[str, object] | None = None,
        amr: Sequence[str] = (),
        sid: str | None = None,
    ) -> str:
        """OIDC Core §2 / §3.1.3.6 ID token, with the user's claims for ``scopes`` and the
        ``requested`` ones (a ``claims`` request parameter, OIDC Core §5.5)."""
        now = self.clock.now()
        key = self.id_token_key()
        claims: dict[str, object] = {
            **(requested or {}),
            **user.claims_for(scopes),
            "iss": self.issuer,
            # OIDC Core §8: the client's subject for the user (pairwise or the user's id).
            "sub": subject or user.id,
            "aud": client.client_id,
            "azp": client.client_id,
            "exp": _epoch(now + timedelta(seconds=ttl_s)),
            "iat": _epoch(now),
            "auth_time": _epoch(auth_time),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if acr is not None:
            claims["acr"] = acr
        # RFC 8176 §2: the methods the sign-in used (second factors, passkeys: amr.amr_of);
        # else the ones the acr implies (a password sign-in).
        methods = list(amr) or (list(amr_of(acr)) if acr is not None else [])
        if methods:
            claims["amr"] = methods
        if access_token is not None:
            claims["at_hash"] = half_hash(access_token, key.alg)
        claims.update({k: v for k, v in (role_claims or {}).items() if k not in claims})
        if sid is not None:
            claims["sid"] = sid  # OpenID Back-Channel Logout §2.1
        return mint(claims, key)


def half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash: the left half of the hash the signing alg uses."""
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AccessTokenReader:
    """Turns a presented access token into :class:`TokenInfo`, or None when inactive."""

    keys: KeySource
    algorithms: frozenset[str]
    issuer: str
    leeway_s: int
    opaque: OpaqueTokenStore
    hasher: SecretHasher
    cache: TieredCache
    revocations: RevocationCheck
    clock: Clock
    cache_ttl_s: float
    #: Concurrent lookups of one opaque token share one database query: when its cache entry
    #: expires under load, every request in flight would otherwise query at once (the bench
    #: showed 0.3 s p99 spikes on SQLite every ``cache_ttl_s``).
    flights: SingleFlight = field(default_factory=SingleFlight)
    #: The TokenInfo last decoded from each cached record (by the token's hash): while the
    #: record is the same, an introspection skips its JSON and the TokenInfo built from it.
    decoded: DecodedCopies[TokenInfo | None] = field(
        default_factory=lambda: DecodedCopies(json_records(_info_from_json))
    )

    async def read(self, token: str) -> TokenInfo | None:
        if token.count(".") == 2:
            info = self._read_jwt(token)
        else:
            info = await self._read_opaque(token)
        if info is None or info.expires_at <= self.clock.now():
            return None
        if await self.revocations.is_revoked(info.jti, info.grant_id):
            return None
        return info

    def _read_jwt(self, token: str) -> TokenInfo | None:
        try:
            claims = verify(
                token,
                self.keys,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=None,
                typ=AT_JWT_TYP,
                leeway_s=0,
                clock=self.clock,
                required_claims=("exp", "iat", "jti", "client_id", "sub"),
            )
        except InvalidToken:
            return None
        payload: Mapping[str, object] = claims.payload
        client_id, jti, gid = payload.get("client_id"), payload.get("jti"), payload.get("gid")
        iat, expires_at = payload.get("iat"), claims.expires_at
        if not isinstance(client_id, str) or not isinstance(jti, str) or expires_at is None:
            return None
        if not isinstance(iat, int | float):
            return None
        subject = claims.subject or client_id
        cnf = payload.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        act, auth_time = payload.get("act"), payload.get("auth_time")
        acr, amr = payload.get("acr"), payload.get("amr")
        return TokenInfo(
            jkt=jkt if isinstance(jkt, str) else None,
            token_type="access_token",  # noqa: S106  (a token type, not a token)
            client_id=client_id,
            subject=subject,
            user_id=subject if isinstance(gid, str) else None,
            scopes=claims.scopes,
            audience=claims.audience,
            issued_at=datetime.fromtimestamp(iat, expires_at.tzinfo),
            expires_at=expires_at,
            jti=jti,
            grant_id=gid if isinstance(gid, str) else None,
            act=act if isinstance(act, dict) else None,
            auth_time=(
                datetime.fromtimestamp(auth_time, expires_at.tzinfo)
                if isinstance(auth_time, int | float)
                else None
            ),
            acr=acr if isinstance(acr, str) else None,
            amr=tuple(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else (),
        )

    async def _read_opaque(self, token: str) -> TokenInfo | None:
        if not token or len(token) > 512:
            return None
        token_hash = self.hasher.hash(token)
        key = f"oidc:opaque:{token_hash}"
        cached = await self.decoded.read(self.cache, key)
        if cached is not MISS:
            return cached
        return await self.flights.run(key, lambda: self._load_opaque(token, key))

    async def _load_opaque(self, token: str, key: str) -> TokenInfo | None:
        row = await self.opaque.find(self.hasher.candidates(token))
        if row is None or row.revoked_at is not None:
            await set_json(self.cache, key, {}, self.cache_ttl_s)
            return None
        info = TokenInfo(
            token_type="access_token",  # noqa: S106  (a token type, not a token)
            client_id=row.client_id,
            subject=row.user_id or row.client_id,
            user_id=row.user_id,
            scopes=row.scopes,
            audience=row.audience,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            jti=row.jti,
            grant_id=row.grant_id,
            jkt=row.dpop_jkt,
        )
        await set_json(self.cache, key, _info_to_json(info), self.cache_ttl_s)
        return info

    async def revoke_opaque(self, token: str) -> TokenInfo | None:
        """Revoke an opaque access token; returns what it was, if it existed."""
        info = await self._read_opaque(token)
        if info is None:
            return None
        await self.opaque.revoke(self.hasher.candidates(token), self.clock.now())
        await self.cache.delete(f"oidc:opaque:{self.hasher.hash(token)}")
        return info


def _info_to_json(info: TokenInfo) -> dict[str, object]:
    return {
        "client_id": info.client_id,
        "subject": info.subject,
        "user_id": info.user_id,
        "scopes": sorted(info.scopes),
        "audience": list(info.audience),
        "issued_at": info.issued_at.isoformat(),
        "expires_at": info.expires_at.isoformat(),
        "jti": info.jti,
        "grant_id": info.grant_id,
        "jkt": info.jkt,
    }


def _info_from_json(data: Mapping[str, object]) -> TokenInfo | None:
    try:
        return TokenInfo(
            token_type="access_token",  # noqa: S106  (a token type, not a token)
            client_id=str(data["client_id"]),
            subject=str(data["subject"]),
            user_id=data["user_id"] if isinstance(data["user_id"], str) else None,
            scopes=frozenset(_strings(data["scopes"])),
            audience=_strings(data["audience"]),
            issued_at=datetime.fromisoformat(str(data["issued_at"])),
            expires_at=datetime.fromisoformat(str(data["expires_at"])),
            jti=data["jti"] if isinstance(data["jti"], str) else None,
            grant_id=data["grant_id"] if isinstance(data["grant_id"], str) else None,
            jkt=_str_or_none(data.get("jkt")),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None
