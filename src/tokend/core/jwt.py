"""Mint and verify compact JWS/JWT (RFC 7515, RFC 7519) with a strict allow-list.

joserfc supplies the key objects and the signature algorithms; the parsing and every check
is done here, in the order RFC 8725 (JWT best current practices) asks for, because verification
is a hot path and each rejection must say what went wrong without echoing the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NoReturn, Protocol, TypeGuard

from joserfc.errors import JoseError
from joserfc.jwa import JWS_ALGORITHMS, JWSAlgModel
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from tokend.core.clock import Clock
from tokend.core.errors import InvalidToken

#: Algorithms a VerificationKey may be bound to. The caller's allow-list narrows this further.
_MODELS: Final[Mapping[str, JWSAlgModel]] = {
    model.name: model
    for model in JWS_ALGORITHMS
    if model.name
    in {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
}
#: RFC 8725 §3.1 / §2.7: headers that would let the token choose its own verification key.
_KEY_BEARING_HEADERS: Final = ("jku", "x5u", "x5c", "jwk")
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_INFERRED_ALG: Final[Mapping[tuple[str, str | None], str]] = {
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA",
    ("RSA", None): "RS256",
}
MAX_TOKEN_LENGTH: Final = 32_768


class MalformedToken(InvalidToken):
    default_description = "The token is malformed."


class UntrustedToken(InvalidToken):
    """Algorithm, key or header not accepted, or a bad signature: the token proves nothing."""

    default_description = "The token signature or header is not accepted."


class TokenExpired(InvalidToken):
    default_description = "The token has expired."


class TokenNotYetValid(InvalidToken):
    default_description = "The token is not valid yet."


class TokenNotForUs(InvalidToken):
    """Well signed, but issued by someone else, for someone else or for another purpose."""

    default_description = "The token was not issued for this recipient or purpose."


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public (or, for HS*, shared) key bound to exactly one algorithm."""

    kid: str
    alg: str
    key: Key = field(repr=False)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    key: Key = field(repr=False)  # holds the private key


class KeySource(Protocol):
    def find(self, kid: str) -> VerificationKey | None:
        """The key with this id, or None. Called on every verification: must not do I/O."""
        ...


def verification_key_from_jwk(jwk: Mapping[str, object]) -> VerificationKey:
    """A VerificationKey from a public JWK (RFC 7517 §4); private members are ignored.

    Raises ValueError for a JWK that cannot verify signatures here: no kid, symmetric,
    ``use`` other than ``sig``, an unsupported algorithm, or an RSA modulus under 2048 bits.
    """
    public = {k: v for k, v in jwk.items() if k not in _PRIVATE_JWK_MEMBERS}
    kid, kty, crv = public.get("kid"), public.get("kty"), public.get("crv")
    if not isinstance(kid, str) or not kid:
        raise ValueError("JWK has no kid")
    if public.get("use", "sig") != "sig":
        raise ValueError("JWK is not for signatures")
    if not isinstance(kty, str) or kty not in ("EC", "RSA", "OKP"):
        raise ValueError("JWK key type is not EC, RSA or OKP")
    alg = public.get("alg") or _INFERRED_ALG.get((kty, crv if isinstance(crv, str) else None))
    if not isinstance(alg, str) or alg not in _MODELS or _MODELS[alg].key_type != kty:
        raise ValueError("JWK algorithm is missing, unsupported or does not fit its key type")
    data: dict[str, str | list[str]] = {k: v for k, v in public.items() if isinstance(v, str)}
    try:
        # NIST SP 800-131A: RSA under 2048 bits is not acceptable (joserfc would only warn).
        if kty == "RSA" and _rsa_modulus_bits(data.get("n")) < 2048:
            raise ValueError("RSA key is shorter than 2048 bits")
        key = _import_public_key(kty, data)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"JWK is not a usable {kty} key") from exc
    _MODELS[alg].check_key(key)
    return VerificationKey(kid=kid, alg=alg, key=key)


def _rsa_modulus_bits(n: object) -> int:
    if not isinstance(n, str):
        return 0
    return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))).bit_length()


def _import_public_key(kty: str, data: dict[str, str | list[str]]) -> Key:
    if kty == "EC":
        return ECKey.import_key(data)
    if kty == "RSA":
        return RSAKey.import_key(data)
    return OKPKey.import_key(data)


@dataclass(frozen=True, slots=True)
class Claims(Mapping[str, object]):
    """The verified payload, read-only, plus the header members that selected the key."""

    payload: Mapping[str, object]
    kid: str
    alg: str
    typ: str | None = None

    def __getitem__(self, name: str) -> object:
        return self.payload[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.payload)

    def __len__(self) -> int:
        return len(self.payload)

    @property
    def subject(self) -> str | None:
        sub = self.payload.get("sub")
        return sub if isinstance(sub, str) else None

    @property
    def audience(self) -> tuple[str, ...]:
        return _audiences(self.payload.get("aud"))

    @property
    def expires_at(self) -> datetime | None:
        exp = self.payload.get("exp")
        if not _is_number(exp):
            return None
        try:
            return datetime.fromtimestamp(exp, UTC)
        except (OverflowError, OSError, ValueError):
            return None

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.payload.get("scope")
        return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def mint(claims: Mapping[str, object], key: SigningKey, *, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` signed with ``key``; header ``{alg, kid, typ}``."""
    header = {"alg": key.alg, "kid": key.kid, "typ": typ}
    signing_input = _json_segment(header) + b"." + _json_segment(claims)
    signature = _MODELS[key.alg].sign(signing_input, key.key)
    return (signing_input + b"." + _b64encode(signature)).decode("ascii")


def verify(
    token: str,
    keys: KeySource,
    *,
    algorithms: frozenset[str],
    issuer: str | None,
    audience: str | Collection[str] | None,
    typ: str | None,
    leeway_s: int,
    clock: Clock,
    required_claims: Sequence[str] = ("exp", "iat"),
) -> Claims:
    """The claims of ``token`` once its signature, header and claims all pass.

    ``issuer``/``audience``/``typ`` set to None skip that check. Raises a subclass of
    :class:`InvalidToken` whose description is safe to show; ``internal`` says why.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken(internal="token is not a string of acceptable length")
    if not token.isascii():  # base64url segments are ASCII; the signing input is encoded as such
        raise MalformedToken(internal="token has non-ASCII characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(internal="token is not a compact JWS (three segments)")
    header = _header(parts[0])
    alg = header.get("alg")
    key = _check_header(header, keys, algorithms)
    model = _MODELS[key.alg]
    signature = _b64decode(parts[2], "signature")
    # The signing input is the encoded segments as received (RFC 7515 §5.2 step 8).
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        valid = model.verify(signing_input, signature, key.key)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise UntrustedToken(internal=f"bad signature (kid {key.kid!r}, alg {alg!r})")
    # RFC 8725 §3.11: explicit typing keeps one kind of token from passing as another.
    if typ is not None and _media_type(header.get("typ")) != _media_type(typ):
        raise TokenNotForUs(internal="typ header does not match the expected token type")
    payload = _json_object(parts[1], "payload")
    _check_claims(payload, issuer, audience, leeway_s, clock, required_claims)
    return Claims(
        MappingProxyType(payload), kid=key.kid, alg=key.alg, typ=_str_or_none(header.get("typ"))
    )


def _check_header(
    header: Mapping[str, object], keys: KeySource, algorithms: frozenset[str]
) -> VerificationKey:
    alg = header.get("alg")
    # RFC 8725 §3.1: only algorithms the caller expects; "none" never (RFC 7518 §3.6).
    if not isinstance(alg, str) or alg.lower() == "none" or alg not in algorithms:
        raise UntrustedToken(internal="alg is missing, 'none' or not allowed here")
    present = [name for name in _KEY_BEARING_HEADERS if name in header]
    if present:
        raise UntrustedToken(internal=f"header names its own key ({', '.join(present)})")
    # RFC 7515 §4.1.11: a crit extension we do not understand must be rejected; we know none.
    if "crit" in header:
        raise UntrustedToken(internal="header has crit extensions, none are supported")
    # RFC 7797 §3: unencoded payloads are not supported.
    if header.get("b64", True) is not True:
        raise UntrustedToken(internal="header asks for an unencoded payload (b64)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UntrustedToken(internal="kid header is missing")
    key = keys.find(kid)
    if key is None:
        raise UntrustedToken(internal="kid is not a known key")
    # RFC 8725 §3.1: the key decides the algorithm, so an RS/ES public key can never be used
    # as an HMAC secret (algorithm confusion).
    if key.alg != alg or key.alg not in _MODELS:
        raise UntrustedToken(internal=f"kid {kid!r} is for {key.alg}, header says {alg}")
    try:
        _MODELS[alg].check_key(key.key)
    except JoseError:
        raise UntrustedToken(internal=f"kid {kid!r} does not fit {alg}") from None
    return key


def _check_claims(
    payload: Mapping[str, object],
    issuer: str | None,
    audience: str | Collection[str] | None,
    leeway_s: int,
    clock: Clock,
    required: Sequence[str],
) -> None:
    missing = [name for name in required if name not in payload]
    if missing:
        raise TokenNotForUs(internal=f"required claims missing: {', '.join(missing)}")
    now = clock.now().timestamp()
    times: dict[str, float] = {}
    for name in ("exp", "nbf", "iat"):
        if name in payload:
            value = payload[name]
            # RFC 7519 §2: a NumericDate is a JSON number (and a bool is not one).
            if not _is_number(value):
                raise MalformedToken(internal=f"{name} is not a NumericDate")
            times[name] = float(value)
    # RFC 7519 §4.1.4: reject on or after exp, allowing for clock skew.
    if "exp" in times and now >= times["exp"] + leeway_s:
        raise TokenExpired(internal="exp has passed")
    # RFC 7519 §4.1.5: reject before nbf.
    if "nbf" in times and now + leeway_s < times["nbf"]:
        raise TokenNotYetValid(internal="nbf is in the future")
    if "iat" in times and now + leeway_s < times["iat"]:
        raise TokenNotYetValid(internal="iat is in the future")
    # RFC 7519 §4.1.1: iss is compared as a case-sensitive string.
    if issuer is not None and payload.get("iss") != issuer:
        raise TokenNotForUs(internal="iss is not the expected issuer")
    # RFC 7519 §4.1.3: we must be one of the audiences.
    if audience is not None:
        expected = {audience} if isinstance(audience, str) else set(audience)
        if expected.isdisjoint(_audiences(payload.get("aud"))):
            raise TokenNotForUs(internal="aud does not name this recipient")


def _media_type(value: object) -> str | None:
    # RFC 7515 §4.1.9 / RFC 8725 §3.11: case-insensitive, "application/" may be omitted.
    if not isinstance(value, str):
        return None
    lowered = value.lower()
    return lowered.removeprefix("application/")


def _audiences(aud: object) -> tuple[str, ...]:
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list):
        return tuple(a for a in aud if isinstance(a, str))
    return ()


def _is_number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _json_segment(value: Mapping[str, object]) -> bytes:
    return _b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_B64URL_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64URL_ALPHABET: Final = frozenset(_B64URL_CHARS)
_B64URL_VALUE: Final = {char: value for value, char in enumerate(_B64URL_CHARS)}
#: By segment length mod 4: the low bits of the last character that carry no data
#: (2 characters hold 1 byte: 4 spare bits; 3 hold 2 bytes: 2 spare bits).
_UNUSED_BITS: Final = {0: 0, 2: 0b1111, 3: 0b11}


def _b64decode(segment: str, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding; the stdlib decoder would skip stray characters.
    if len(segment) % 4 == 1 or not _B64URL_ALPHABET.issuperset(segment):
        raise MalformedToken(internal=f"{what} is not base64url")
    # Only the canonical encoding is accepted, so a token has exactly one spelling: the bits
    # the last character carries beyond the data must be zero (checked without re-encoding,
    # this runs three times per verification).
    unused_bits = _UNUSED_BITS[len(segment) % 4]
    if unused_bits and _B64URL_VALUE[segment[-1]] & unused_bits:
        raise MalformedToken(internal=f"{what} is not canonical base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken(internal=f"{what} is not base64url") from None
    return data


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # RFC 7515 §5.2 / RFC 7519 §4: duplicate member names are rejected, not guessed at.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _no_constants(name: str) -> NoReturn:
    # RFC 8259 §6: NaN and Infinity are not JSON; a NaN exp would never expire.
    raise ValueError(f"{name} is not a JSON number")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constants)


@lru_cache(maxsize=512)
def _header(segment: str) -> Mapping[str, object]:
    """The parsed header. An issuer's tokens share a handful of headers, so parsing is cached
    per segment string (bounded: unique headers from an attacker only churn the cache); the
    key lookup and every check still run per token in ``_check_header``."""
    return MappingProxyType(_json_object(segment, "header"))


def _json_object(segment: str, what: str) -> dict[str, object]:
    raw = _b64decode(segment, what)
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedToken(internal=f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(internal=f"{what} is not a JSON object")
    return value
