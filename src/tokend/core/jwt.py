"""Mint and verify compact JWS/JWT (RFC 7515, RFC 7519) with a strict allow-list.

This is tokend's one JWS parser: tokens from the keyring, from a trusted issuer's JWKS, and the
gateway's HS256 tokens under a per-consumer ``SharedSecret`` all go through ``verify`` (and
``read_unverified`` parses the same way for routing and display). The parsing and every check is
done here, in the order RFC 8725 (JWT best current practices) asks for, so each rejection can say
what went wrong without echoing the token. Keys and the signature algorithms are in
``tokend.core.jws_keys``.

Fast paths were measured end to end before keeping any (2026-12, architecture issue item 4):
the header parse and encode caches here and the bound signature checks in jws_keys stay, each
saying why. The others went: a translate-and-strict-mode base64url decoder, a direct JSON scan
and inlined claim checks each saved 0.3-1.1 µs per ES256 token, under 0.5% of the ~260 µs of
server CPU a guarded request costs. Measure end to end before adding one back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Final, NoReturn, TypeGuard

from joserfc.errors import JoseError

from tokend.core.clock import Clock
from tokend.core.errors import InvalidToken
from tokend.core.json_output import compact_json
from tokend.core.jws_keys import (
    ALGORITHMS,
    KeySource,
    SharedSecret,
    SignatureCheck,
    SigningKey,
    VerificationKey,
    verification_key_from_jwk,
)

#: The key types live in jws_keys; most callers import them from here with the rest.
__all__ = [
    "Claims",
    "KeySource",
    "MalformedToken",
    "SharedSecret",
    "SignatureCheck",
    "SigningKey",
    "TokenExpired",
    "TokenNotForUs",
    "TokenNotYetValid",
    "UntrustedToken",
    "VerificationKey",
    "mint",
    "read_unverified",
    "verification_key_from_jwk",
    "verify",
]

#: RFC 8725 §3.1 / §2.7: headers that would let the token choose its own verification key.
_KEY_BEARING_HEADERS: Final = ("jku", "x5u", "x5c", "jwk")
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
class Claims(Mapping[str, object]):
    """The verified payload, read-only, plus the header members that selected the key
    (``kid`` is None when the caller supplied a ``SharedSecret``)."""

    payload: Mapping[str, object]
    kid: str | None
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


def mint(claims: Mapping[str, object], key: SigningKey | SharedSecret, *, typ: str = "JWT") -> str:
    """A compact JWS of ``claims`` signed with ``key``; header ``{alg, kid, typ}``, or
    ``{alg, typ}`` under a ``SharedSecret`` (seed 004's ``{"alg":"HS256","typ":"JWT"}``)."""
    kid = None if isinstance(key, SharedSecret) else key.kid
    signing_input = _header_segment(key.alg, kid, typ) + b"." + _json_segment(claims)
    signature = key.sign(signing_input)
    return (signing_input + b"." + _b64encode(signature)).decode("ascii")


def verify(
    token: str,
    keys: KeySource | SharedSecret | VerificationKey,
    *,
    algorithms: frozenset[str],
    issuer: str | None,
    audience: str | Collection[str] | None,
    typ: str | None,
    leeway_s: int,
    clock: Clock,
    required_claims: Sequence[str] = ("exp", "iat"),
    embedded_jwk: bool = False,
) -> Claims:
    """The claims of ``token`` once its signature, header and claims all pass.

    ``keys`` is where the header's ``kid`` is looked up, or the one ``SharedSecret`` the caller
    expects the token to be signed with (then ``algorithms`` must name HS256 for it to pass),
    or the one ``VerificationKey`` the caller chose. ``embedded_jwk``: the header's ``jwk`` is
    allowed, because the caller made ``keys`` from it (a DPoP proof, RFC 9449 §4.2, proves
    possession of that very key; nothing else may pick its own key, RFC 8725 §3.1).
    ``issuer``/``audience``/``typ`` set to None skip that check. Raises a subclass of
    :class:`InvalidToken` whose description is safe to show; ``internal`` says why.
    """
    head, body, signature_segment = _segments(token)
    header = _header(head)
    kid, alg, check_signature = _check_header(header, keys, algorithms, embedded_jwk)
    signature = _b64decode(signature_segment, "signature")
    # The signing input is the encoded segments as received (RFC 7515 §5.2 step 8).
    signing_input = f"{head}.{body}".encode("ascii")
    try:
        valid = check_signature(signing_input, signature)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise UntrustedToken(internal=f"bad signature (kid {kid!r}, alg {alg!r})")
    header_typ = header.get("typ")
    # RFC 8725 §3.11: explicit typing keeps one kind of token from passing as another.
    if typ is not None and _media_type(header_typ) != _media_type(typ):
        raise TokenNotForUs(internal="typ header does not match the expected token type")
    payload = _json_object(body, "payload")
    _check_claims(payload, issuer, audience, leeway_s, clock, required_claims)
    return Claims(MappingProxyType(payload), kid=kid, alg=alg, typ=_str_or_none(header_typ))


@lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str | None, typ: str) -> bytes:
    """The encoded header, cached: a few keys and types mint every token (none of it comes from
    a request).

    Fast path, added after measuring (2026-12): ~2 µs of the ~7.5 µs a gateway HS256 token costs
    to mint, ~1.3% of the ~155 µs of server CPU of ``GET /gateway/tokens`` (with it, within 1%
    of the gateway's old hand-built minter end to end); every keyring token gains the same."""
    header = {"alg": alg, "typ": typ} if kid is None else {"alg": alg, "kid": kid, "typ": typ}
    return _json_segment(header)


def read_unverified(token: str) -> tuple[Mapping[str, object], Mapping[str, object]]:
    """Header and payload of ``token``, parsed as ``verify`` parses them, with NOTHING verified:
    only to pick which issuer's keys verify it, or to show a token, never to trust one."""
    head, body, _signature = _segments(token)
    return _header(head), _json_object(body, "payload")


def _segments(token: str) -> list[str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise MalformedToken(internal="token is not a string of acceptable length")
    if not token.isascii():  # base64url segments are ASCII; the signing input is encoded as such
        raise MalformedToken(internal="token has non-ASCII characters")
    # RFC 7515 §7.1: the compact serialization is exactly three segments.
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken(internal="token is not a compact JWS (three segments)")
    return parts


def _check_header(
    header: Mapping[str, object],
    keys: KeySource | SharedSecret | VerificationKey,
    algorithms: frozenset[str],
    embedded_jwk: bool = False,
) -> tuple[str | None, str, SignatureCheck]:
    """The kid (None for a shared secret), alg and signature check the header selects."""
    alg = header.get("alg")
    # RFC 8725 §3.1: only algorithms the caller expects; "none" never (RFC 7518 §3.6).
    if not isinstance(alg, str) or alg.lower() == "none" or alg not in algorithms:
        raise UntrustedToken(internal="alg is missing, 'none' or not allowed here")
    _refuse_unusual_header(header, embedded_jwk)
    if isinstance(keys, VerificationKey):
        # The caller chose the key (and bound it to one alg); a kid selects nothing.
        if keys.alg != alg or keys.check_signature is None:
            raise UntrustedToken(internal=f"the key is for {keys.alg}, header says {alg}")
        return keys.kid, alg, keys.check_signature
    if isinstance(keys, SharedSecret):
        # RFC 8725 §3.1: a shared secret verifies its own algorithm only, never a token that
        # claims RS/ES (algorithm confusion). The caller chose the key: a kid in the header
        # (RFC 7515 §4.1.4, a hint) selects nothing.
        if alg != keys.alg:
            raise UntrustedToken(internal=f"the shared secret is for {keys.alg}, header says {alg}")
        return None, alg, keys.check_signature
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UntrustedToken(internal="kid header is missing")
    key = keys.find(kid)
    if key is None:
        raise UntrustedToken(internal="kid is not a known key")
    # RFC 8725 §3.1: the key decides the algorithm, so an RS/ES public key can never be used
    # as an HMAC secret (algorithm confusion).
    if key.alg != alg or key.alg not in ALGORITHMS:
        raise UntrustedToken(internal=f"kid {kid!r} is for {key.alg}, header says {alg}")
    # joserfc's check_key for this alg, run when the VerificationKey was made.
    if key.check_signature is None:
        raise UntrustedToken(internal=f"kid {kid!r} does not fit {alg}")
    return kid, alg, key.check_signature


def _refuse_unusual_header(header: Mapping[str, object], embedded_jwk: bool = False) -> None:
    present = [
        name
        for name in _KEY_BEARING_HEADERS
        if name in header and not (embedded_jwk and name == "jwk")
    ]
    if present:
        raise UntrustedToken(internal=f"header names its own key ({', '.join(present)})")
    # RFC 7515 §4.1.11: a crit extension we do not understand must be rejected; we know none.
    if "crit" in header:
        raise UntrustedToken(internal="header has crit extensions, none are supported")
    # RFC 7797 §3: unencoded payloads are not supported.
    if header.get("b64", True) is not True:
        raise UntrustedToken(internal="header asks for an unencoded payload (b64)")


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
    now = clock.timestamp()
    # All three are type-checked before any is compared (a malformed date is reported as such).
    exp = _numeric_date(payload, "exp")
    nbf = _numeric_date(payload, "nbf")
    iat = _numeric_date(payload, "iat")
    # RFC 7519 §4.1.4: reject on or after exp, allowing for clock skew.
    if exp is not None and now >= exp + leeway_s:
        raise TokenExpired(internal="exp has passed")
    # RFC 7519 §4.1.5: reject before nbf.
    if nbf is not None and now + leeway_s < nbf:
        raise TokenNotYetValid(internal="nbf is in the future")
    if iat is not None and now + leeway_s < iat:
        raise TokenNotYetValid(internal="iat is in the future")
    # RFC 7519 §4.1.1: iss is compared as a case-sensitive string.
    if issuer is not None and payload.get("iss") != issuer:
        raise TokenNotForUs(internal="iss is not the expected issuer")
    # RFC 7519 §4.1.3: we must be one of the audiences.
    if audience is not None:
        expected = (audience,) if isinstance(audience, str) else audience
        if not any(name in expected for name in _audiences(payload.get("aud"))):
            raise TokenNotForUs(internal="aud does not name this recipient")


def _numeric_date(payload: Mapping[str, object], name: str) -> float | None:
    if name not in payload:
        return None
    value = payload[name]
    # RFC 7519 §2: a NumericDate is a JSON number (and a bool is not one).
    if not _is_number(value):
        raise MalformedToken(internal=f"{name} is not a NumericDate")
    return float(value)


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


#: Numbers beyond ±2**53 are refused: JSON allows any size, but a larger int is not exactly a
#: float (math.isfinite and float() raise OverflowError past ~1e308). The comparison is exact
#: for ints of any size and false for NaN, so it also refuses NaN and the infinities.
_NUMBER_BOUND: Final = float(2**53)


def _is_number(value: object) -> TypeGuard[int | float]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return -_NUMBER_BOUND <= value <= _NUMBER_BOUND


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _json_segment(value: Mapping[str, object]) -> bytes:
    return _b64encode(compact_json(value))


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(segment: str, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding. The stdlib decoder skips characters outside its
    # alphabet and reads "+" and "/" as "-" and "_", so the segment must also be exactly the
    # encoding of what it decoded to: that refuses them, padding, and the second spelling a
    # set spare bit in the last character would give (RFC 4648 §3.5), so a token has one
    # spelling only.
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:  # binascii.Error included
        raise MalformedToken(internal=f"{what} is not base64url") from None
    if _b64encode(data) != segment.encode("ascii"):
        raise MalformedToken(internal=f"{what} is not base64url in its canonical spelling")
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
    """The parsed header, cached per segment string: an issuer's tokens share a handful of
    headers (bounded: unique headers from an attacker only churn the cache); the key lookup and
    every check still run per token in ``_check_header``.

    Fast path, kept after measuring (2026-12): ~2.0 µs of ~46 µs per ES256 verification
    (in-process), ~0.8% of the ~260 µs of server CPU a guarded request costs. Kept with the
    bound signature checks (jws_keys), the two largest: without all five fast paths the guarded
    route cost +8 to +10% end to end, with these two +2%."""
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
