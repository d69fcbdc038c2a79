"""Reading the subject and actor tokens of an RFC 8693 token exchange: this provider's access
tokens and ID tokens, and JWTs of the external issuers the operator trusts
(``oidc.token_exchange.trusted_issuers``). Every refusal is RFC 8693 §2.2.2 ``invalid_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Protocol

from tokend.core.clock import Clock
from tokend.core.errors import InvalidRequest, InvalidToken, TokendError
from tokend.core.json_input import parse_json
from tokend.core.jws_keys import VerificationKey, verification_key_from_jwk
from tokend.core.jwt import KeySource, read_unverified, verify
from tokend.oidc.settings import TrustedIssuerSettings
from tokend.oidc.tokens import AT_JWT_TYP, AccessTokenReader

if TYPE_CHECKING:
    from tokend.oidc.client_keys import KeySet

ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105
JWT_TYPE: Final = "urn:ietf:params:oauth:token-type:jwt"
TOKEN_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TYPE})
_MAX_TOKEN_CHARS: Final = 8192


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """What a subject or actor token says, once verified."""

    token_type: str
    issuer: str
    subject: str
    #: The client it was issued to (``client_id``/``azp``); None for an external issuer's JWT.
    client_id: str | None
    scopes: frozenset[str]
    expires_at: datetime | None
    #: A local user's token: the user, and the grant it belongs to (revoked with it).
    user_id: str | None = None
    grant_id: str | None = None
    auth_time: datetime | None = None
    act: Mapping[str, object] | None = field(default=None, hash=False)
    #: RFC 8693 §4.4: who may act for the subject.
    may_act: Mapping[str, object] | None = field(default=None, hash=False)


@dataclass(frozen=True, slots=True)
class _Issuer:
    issuer: str
    audience: str
    #: Its configured keys; empty when they are fetched from ``jwks_uri``.
    keys: Mapping[str, VerificationKey]
    jwks_uri: str | None = None

    def find(self, kid: str) -> VerificationKey | None:
        return self.keys.get(kid)


class IssuerKeys(Protocol):
    """Fetches a JWK Set by URI with a cache (``client_keys.ClientKeys``)."""

    async def from_uri(self, uri: str, kid: str | None) -> KeySet: ...


def trusted_issuers(settings: list[TrustedIssuerSettings], own_issuer: str) -> dict[str, _Issuer]:
    issuers = {}
    for item in settings:
        jwks = parse_json(item.jwks)["keys"] if item.jwks is not None else []
        keys = [verification_key_from_jwk(jwk) for jwk in jwks]
        issuers[item.issuer] = _Issuer(
            item.issuer, item.audience or own_issuer, {k.kid: k for k in keys}, item.jwks_uri
        )
    return issuers


def _epoch(value: object) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None


def _object(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class SubjectTokens:
    access_tokens: AccessTokenReader
    keys: KeySource
    id_token_algorithms: frozenset[str]
    issuer: str
    leeway_s: int
    clock: Clock
    external: Mapping[str, _Issuer] = field(default_factory=dict)
    #: Fetches the ``jwks_uri`` of an external issuer configured with one.
    issuer_keys: IssuerKeys | None = None

    async def read(self, token: str, token_type: str) -> PresentedToken:
        """The verified token; InvalidRequest when it is not an active token of that type."""
        if token_type not in TOKEN_TYPES:
            raise InvalidRequest(f"token type {token_type[:80]} is not supported")
        if len(token) > _MAX_TOKEN_CHARS:
            raise InvalidRequest("the token is too long")
        if token_type == ACCESS_TOKEN_TYPE:
            return await self._access_token(token)
        if token_type == ID_TOKEN_TYPE:
            return self._id_token(token)
        return await self._external_jwt(token)

    async def _access_token(self, token: str) -> PresentedToken:
        # Expired, revoked (the deny-list) and foreign tokens all read as None.
        info = await self.access_tokens.read(token)
        if info is None:
            raise InvalidRequest("the token is not an active access token of this server")
        return PresentedToken(
            token_type=ACCESS_TOKEN_TYPE,
            issuer=self.issuer,
            subject=info.subject,
            client_id=info.client_id,
            scopes=info.scopes,
            expires_at=info.expires_at,
            user_id=info.user_id,
            grant_id=info.grant_id,
            auth_time=info.auth_time,
            act=info.act,
        )

    def _id_token(self, token: str) -> PresentedToken:
        try:
            claims = verify(
                token,
                self.keys,
                algorithms=self.id_token_algorithms,
                issuer=self.issuer,
                audience=None,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("exp", "iat", "sub", "aud"),
            )
        except InvalidToken:
            raise InvalidRequest("the token is not a valid ID token of this server") from None
        # RFC 8725 §3.11: an access token (typ at+jwt) is not an ID token.
        if claims.typ is not None and claims.typ.lower() == AT_JWT_TYP:
            raise InvalidRequest("the token is not a valid ID token of this server")
        azp = claims.payload.get("azp")
        client_id = azp if isinstance(azp, str) else next(iter(claims.audience), None)
        subject = claims.subject or ""
        return PresentedToken(
            token_type=ID_TOKEN_TYPE,
            issuer=self.issuer,
            subject=subject,
            client_id=client_id,
            scopes=frozenset({"openid"}),
            expires_at=claims.expires_at,
            user_id=subject,
            auth_time=_epoch(claims.payload.get("auth_time")),
        )

    async def _external_jwt(self, token: str) -> PresentedToken:
        try:
            header, payload = read_unverified(token)
        except InvalidToken:
            raise InvalidRequest("the token is not a JWT") from None
        issuer = self.external.get(str(payload.get("iss", "")))
        if issuer is None:
            raise InvalidRequest("the token's issuer is not trusted for token exchange")
        keys: KeySource = issuer
        algorithms = frozenset(k.alg for k in issuer.keys.values())
        if issuer.jwks_uri is not None:
            if self.issuer_keys is None:
                raise InvalidRequest("the token's issuer keys are not available")
            kid = header.get("kid")
            try:
                fetched = await self.issuer_keys.from_uri(
                    issuer.jwks_uri, kid if isinstance(kid, str) else None
                )
            except TokendError:
                raise InvalidRequest("the token's issuer keys could not be fetched") from None
            keys, algorithms = fetched, frozenset(k.alg for k in fetched.keys.values())
        try:
            claims = verify(
                token,
                keys,
                algorithms=algorithms,
                issuer=issuer.issuer,
                audience=issuer.audience,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("exp", "iat", "sub"),
            )
        except InvalidToken:
            raise InvalidRequest("the token is not a valid JWT of its issuer") from None
        return PresentedToken(
            token_type=JWT_TYPE,
            issuer=issuer.issuer,
            subject=claims.subject or "",
            client_id=None,
            scopes=claims.scopes,
            expires_at=claims.expires_at,
            act=_object(claims.payload.get("act")),
            may_act=_object(claims.payload.get("may_act")),
        )
