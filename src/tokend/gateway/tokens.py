"""Gateway tokens: seed 004's HS256 format (Kong jwt-plugin compatible) or ES256 from the keyring.

HS256 tokens have the fixed header ``{"alg":"HS256","typ":"JWT"}`` (no ``kid``: Kong's jwt plugin
finds the credential through a claim, and the seed's clients expect this exact header), so they
are built here with the standard library's HMAC rather than with :mod:`tokend.core.jwt`, whose
tokens always carry a ``kid`` and whose verifier requires one. The MAC is RFC 7518 §3.2 HMAC
SHA-256 keyed with the credential secret's UTF-8 bytes, as Kong's plugin computes it.
ES256 tokens go through :mod:`tokend.core.jwt` and verify against ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from tokend.core import jwt as core_jwt
from tokend.core.clock import Clock
from tokend.core.errors import InvalidToken as CoreInvalidToken
from tokend.core.json_input import InvalidJson, parse_json
from tokend.gateway.errors import InvalidToken, TokenExpired, iso_millis
from tokend.gateway.records import Credential
from tokend.gateway.settings import GatewaySettings

HS256_HEADER: Final = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}
MAX_TOKEN_LENGTH: Final = 8192
_NO_TIME_CHECKS_S: Final = 100 * 365 * 86_400


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
        payload = _b64encode(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
        signing_input = HS256_HEADER + b"." + payload
        mac = hmac.new(credential.secret.encode(), signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + _b64encode(mac)).decode("ascii")

    def verify(self, token: str, credential: Credential, username: str | None) -> TokenFacts:
        parts = _three_parts(token)
        header = _json_object(parts[0], "header")
        if header.get("alg") != "HS256":
            raise InvalidToken(details={"reason": "Unsupported token algorithm"})
        mac = _b64decode(parts[2], "signature")
        expected = hmac.new(
            credential.secret.encode(), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(mac, expected):
            raise InvalidToken(details={"reason": "Invalid token signature"})
        payload = _json_object(parts[1], "payload")
        return _check_times(payload, self._clock, self._leeway_s)


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
        parts = _three_parts(token)
        try:
            claims = core_jwt.verify(
                token,
                self._keys,
                algorithms=frozenset({self.alg}),
                issuer=None,
                audience=None,
                typ=None,
                # Times are checked below the seed's way (exp without leeway, nbf with it, and
                # AUTH_010 naming expiredAt), so core's own time checks are stretched out here.
                leeway_s=_NO_TIME_CHECKS_S,
                clock=self._clock,
                required_claims=("exp", "iat"),
            )
        except CoreInvalidToken:
            raise InvalidToken(details={"reason": "Invalid token signature"}) from None
        # One keyring signs every consumer's tokens: the token must name this consumer.
        if claims.get("key") != credential.key or (
            username is not None and claims.get("sub") != username
        ):
            raise InvalidToken(details={"reason": "Token was not issued to this consumer"})
        return _check_times(_json_object(parts[1], "payload"), self._clock, self._leeway_s)


def _check_times(payload: Mapping[str, object], clock: Clock, leeway_s: int) -> TokenFacts:
    exp, iat = _number(payload.get("exp")), _number(payload.get("iat"))
    nbf = _number(payload.get("nbf")) if "nbf" in payload else iat
    if exp is None or iat is None or nbf is None:
        raise InvalidToken(details={"reason": "Token payload lacks valid exp/iat/nbf claims"})
    now = clock.now().timestamp()
    # Seed 004: nbf in the future is an invalid token (400), allowing for clock skew.
    if nbf > now + leeway_s:
        raise InvalidToken(details={"reason": "Token is not yet valid"})
    # RFC 7519 §4.1.4 and the seed: expired once now >= exp.
    if now >= exp:
        raise TokenExpired(details={"expiredAt": iso_of_epoch(exp), "reason": "Token has expired"})
    return TokenFacts(
        token_id=payload.get("jti"),
        subject=payload.get("sub"),
        issuer=payload.get("iss"),
        audience=payload.get("aud"),
        issued_at=iat,
        expires_at=exp,
    )


def iso_of_epoch(seconds: float) -> str:
    """A NumericDate in the seed's ISO format; AUTH_011 when it is out of range."""
    try:
        return iso_millis(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        raise InvalidToken(details={"reason": "Token times are out of range"}) from None


def _three_parts(token: str) -> list[str]:
    parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3 or not all(parts):
        raise InvalidToken(details={"reason": "Token must have three parts"})
    return parts


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(segment: str, what: str) -> bytes:
    try:
        raw = segment.encode("ascii")
        if b"=" in raw or len(raw) % 4 == 1:
            raise ValueError(what)
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InvalidToken(details={"reason": f"Token {what} is not base64url"}) from None


def _json_object(segment: str, what: str) -> dict[str, object]:
    raw = _b64decode(segment, what)
    try:
        value = parse_json(raw)
    except InvalidJson:
        raise InvalidToken(details={"reason": f"Token {what} is not JSON"}) from None
    if not isinstance(value, dict):
        raise InvalidToken(details={"reason": f"Token {what} is not a JSON object"})
    return value


def _number(value: object) -> float | None:
    """A JSON number as float (RFC 7519 NumericDate); None for anything else, bools included."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
