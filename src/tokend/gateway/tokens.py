"""Gateway tokens: seed 004's HS256 format (Kong jwt-plugin compatible) or ES256 from the keyring.

Both are minted and verified by :mod:`tokend.core.jwt`. HS256 tokens are signed with the
consumer's own credential secret (a ``SharedSecret`` given per call, never the keyring): header
``{"alg":"HS256","typ":"JWT"}`` with no ``kid`` (Kong's jwt plugin finds the credential through a
claim, and the seed's clients expect this exact header), MAC per RFC 7518 §3.2 keyed with the
secret's UTF-8 bytes, as Kong's plugin computes it. ES256 tokens verify against
``/.well-known/jwks.json``. Times are checked here, the seed's way (exp without leeway, nbf with
it, AUTH_010 naming expiredAt).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from tokend.core import jwt as core_jwt
from tokend.core.clock import Clock
from tokend.core.errors import InvalidToken as CoreInvalidToken
from tokend.gateway.errors import InvalidToken, TokenExpired, iso_millis
from tokend.gateway.records import Credential
from tokend.gateway.settings import GatewaySettings

MAX_TOKEN_LENGTH: Final = 8192
#: core.jwt's own time checks are stretched out of the way: ``_check_times`` applies the seed's.
_NO_TIME_CHECKS_S: Final = 100 * 365 * 86_400
_HS256_ONLY: Final = frozenset({"HS256"})
_ES256_ONLY: Final = frozenset({"ES256"})
_LACKS_TIMES: Final = "Token payload lacks valid exp/iat/nbf claims"


@dataclass(frozen=True, slots=True)
class TokenFacts:
    """What ``/tokens/validate`` reports about a verified token."""

    token_id: object
    subject: object
    issuer: object
    audience: object
    issued_at: float
    expires_at: float


class GatewayTokens(Protocol):
    alg: str

    def mint(self, claims: Mapping[str, object], credential: Credential) -> str: ...

    def verify(self, token: str, credential: Credential, username: str | None) -> TokenFacts:
        """The token's facts once it proves it was signed for ``credential``; raises
        InvalidToken (AUTH_011) or TokenExpired (AUTH_010)."""
        ...


def seed_claims(
    settings: GatewaySettings, credential: Credential, username: str, now: datetime
) -> dict[str, object]:
    """Seed 004's claim set, in its order: sub, key, jti, iat, nbf, exp, iss, aud, name."""
    iat = int(now.timestamp())
    audience = settings.audience
    return {
        "sub": username,
        "key": credential.key,
        "jti": str(uuid.uuid4()),
        "iat": iat,
        "nbf": iat,
        "exp": iat + settings.token_ttl_s,
        "iss": credential.key if settings.issuer_is_credential_key else settings.issuer,
        "aud": audience[0] if len(audience) == 1 else list(audience),
        "name": username,
    }


class HmacTokens:
    """HS256 tokens signed with the consumer's own secret (seed 004, Kong's jwt plugin)."""

    alg = "HS256"

    def __init__(self, clock: Clock, leeway_s: int) -> None:
        self._clock = clock
        self._leeway_s = leeway_s

    def mint(self, claims: Mapping[str, object], credential: Credential) -> str:
        # An empty secret raises ValueError here: AUTH_003, never a token anyone could forge.
        return core_jwt.mint(claims, core_jwt.SharedSecret(credential.secret.encode()), typ="JWT")

    def verify(self, token: str, credential: Credential, username: str | None) -> TokenFacts:
        # Only HS256, and only under this consumer's secret (seed 004: the validate endpoint
        # verifies with the secret of the consumer named by x-consumer-id).
        claims = _verified(token, _shared_secret(credential), _HS256_ONLY, self._clock)
        return _check_times(claims, self._clock, self._leeway_s)


class KeyringTokens:
    """ES256 tokens from tokend's keyring: resource servers verify them with the JWKS."""

    alg = "ES256"

    def __init__(
        self,
        signing_key: Callable[[str], core_jwt.SigningKey],
        keys: core_jwt.KeySource,
        clock: Clock,
        leeway_s: int,
    ) -> None:
        self._signing_key = signing_key
        self._keys = keys
        self._clock = clock
        self._leeway_s = leeway_s

    def mint(self, claims: Mapping[str, object], credential: Credential) -> str:
        return core_jwt.mint(claims, self._signing_key(self.alg))

    def verify(self, token: str, credential: Credential, username: str | None) -> TokenFacts:
        claims = _verified(token, self._keys, _ES256_ONLY, self._clock)
        # One keyring signs every consumer's tokens: the token must name this consumer.
        if claims.get("key") != credential.key or (
            username is not None and claims.get("sub") != username
        ):
            raise InvalidToken(details={"reason": "Token was not issued to this consumer"})
        return _check_times(claims, self._clock, self._leeway_s)


def _shared_secret(credential: Credential) -> core_jwt.SharedSecret:
    try:
        return core_jwt.SharedSecret(credential.secret.encode())
    except ValueError:  # an empty secret: no token can be proved with it
        raise InvalidToken(details={"reason": "Invalid token signature"}) from None


def _verified(
    token: str,
    keys: core_jwt.KeySource | core_jwt.SharedSecret,
    algorithms: frozenset[str],
    clock: Clock,
) -> core_jwt.Claims:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(details={"reason": "Token is malformed"})
    try:
        return core_jwt.verify(
            token,
            keys,
            algorithms=algorithms,
            issuer=None,
            audience=None,
            typ=None,
            leeway_s=_NO_TIME_CHECKS_S,
            clock=clock,
            required_claims=("exp", "iat"),
        )
    except core_jwt.MalformedToken:
        raise InvalidToken(details={"reason": "Token is malformed"}) from None
    except core_jwt.TokenNotForUs:  # with issuer, audience and typ unchecked: a missing claim
        raise InvalidToken(details={"reason": _LACKS_TIMES}) from None
    except CoreInvalidToken:
        raise InvalidToken(details={"reason": "Invalid token signature"}) from None


def _check_times(claims: Mapping[str, object], clock: Clock, leeway_s: int) -> TokenFacts:
    exp, iat = _number(claims.get("exp")), _number(claims.get("iat"))
    nbf = _number(claims.get("nbf")) if "nbf" in claims else iat
    if exp is None or iat is None or nbf is None:
        raise InvalidToken(details={"reason": _LACKS_TIMES})
    now = clock.now().timestamp()
    # Seed 004: nbf in the future is an invalid token (400), allowing for clock skew.
    if nbf > now + leeway_s:
        raise InvalidToken(details={"reason": "Token is not yet valid"})
    # RFC 7519 §4.1.4 and the seed: expired once now >= exp.
    if now >= exp:
        raise TokenExpired(details={"expiredAt": iso_of_epoch(exp), "reason": "Token has expired"})
    return TokenFacts(
        token_id=claims.get("jti"),
        subject=claims.get("sub"),
        issuer=claims.get("iss"),
        audience=claims.get("aud"),
        issued_at=iat,
        expires_at=exp,
    )


def iso_of_epoch(seconds: float) -> str:
    """A NumericDate in the seed's ISO format; AUTH_011 when it is out of range."""
    try:
        return iso_millis(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        raise InvalidToken(details={"reason": "Token times are out of range"}) from None


def _number(value: object) -> float | None:
    """A NumericDate as float; core.jwt has already refused any that is not a number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
