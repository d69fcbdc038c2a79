"""The hand-written fast paths of tokend.core.jwt against the straightforward code they replace.

Each fast path must accept and reject exactly what its reference does; the references below are
the previous implementations (stdlib base64 after an alphabet check, JSONDecoder.decode with the
duplicate-rejecting hook, joserfc's own verify).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import NoReturn

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from joserfc.jwa import JWS_ALGORITHMS
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from tokend.core.clock import FrozenClock
from tokend.core.jwt import (
    MalformedToken,
    SigningKey,
    UntrustedToken,
    VerificationKey,
    _b64decode,
    _json_object,
    mint,
    verify,
)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def reference_b64decode(segment: str) -> bytes | None:
    """base64url without padding, canonical spelling only; None where it is refused."""
    if len(segment) % 4 == 1 or not set(_ALPHABET).issuperset(segment):
        return None
    spare_bits = {0: 0, 2: 0b1111, 3: 0b11}[len(segment) % 4]
    if spare_bits and _ALPHABET.index(segment[-1]) & spare_bits:
        return None
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def fast_b64decode(segment: str) -> bytes | None:
    try:
        return _b64decode(segment, "segment")
    except MalformedToken:
        return None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# base64url text plus everything that must be refused: the standard alphabet's "+" and "/",
# padding, whitespace, the separator and non-ASCII.
_segment_chars = st.sampled_from(_ALPHABET) | st.sampled_from("+/= \n\t.é\x00")


@settings(max_examples=1000, database=None, deadline=None)
@given(
    st.one_of(
        st.text(_segment_chars, max_size=12),
        st.binary(max_size=70).map(b64),
        # A real encoding with its last character swapped: exercises the spare bits.
        st.tuples(st.binary(min_size=1, max_size=70).map(b64), st.sampled_from(_ALPHABET)).map(
            lambda pair: pair[0][:-1] + pair[1]
        ),
    )
)
@example("")
@example("QQ")  # canonical "A"
@example("QR")  # "A" with a spare bit set
@example("QQ==")
@example("Q-_A")
@example("Q+/A")
def test_b64decode_refuses_and_accepts_what_the_reference_does(segment: str) -> None:
    decoded = fast_b64decode(segment)
    assert decoded == reference_b64decode(segment)
    if decoded is not None:  # exactly one spelling: what is accepted re-encodes to itself
        assert b64(decoded) == segment


def _no_constants(name: str) -> NoReturn:
    raise ValueError(name)


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate")
    return result


_REFERENCE = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constants)


def reference_json_object(text: str) -> dict[str, object] | None:
    try:
        value = _REFERENCE.decode(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def fast_json_object(text: str) -> dict[str, object] | None:
    try:
        return _json_object(b64(text.encode()), "payload")
    except MalformedToken:
        return None


_WHITESPACE = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n"])
_SCALARS = st.sampled_from(
    ["null", "true", "1", "-0.5", "1e999", "NaN", '"x"', '"a\\":"', '"\\u0061"', '"{}"', "[]"]
)
#: Few names, so that duplicates are common; "alg" is also written with escapes.
_NAMES = st.sampled_from(['"a"', '"\\u0061"', '"b"', '"alg"', '"\\u0061lg"', '"al\\u0067"'])


@st.composite
def json_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON text (sometimes broken) with duplicate, escaped names and whitespace anywhere."""
    kind = draw(
        st.sampled_from(["object", "object", "array", "scalar"] if depth < 3 else ["scalar"])
    )
    if kind == "scalar":
        return draw(_SCALARS)
    if kind == "array":
        items = draw(st.lists(json_texts(depth + 1), max_size=3))
        return "[" + ",".join(draw(_WHITESPACE) + item for item in items) + "]"
    members = draw(st.lists(st.tuples(_NAMES, json_texts(depth + 1)), max_size=4))
    return (
        "{"
        + ",".join(
            f"{draw(_WHITESPACE)}{name}{draw(_WHITESPACE)}:{draw(_WHITESPACE)}{value}"
            for name, value in members
        )
        + draw(_WHITESPACE)
        + "}"
    )


@settings(max_examples=1500, database=None, deadline=None)
@given(
    st.tuples(_WHITESPACE, json_texts(), _WHITESPACE, st.sampled_from(["", "", "x", "{}"])).map(
        "".join
    )
)
@example('{"a":1}')
@example('{"a":1,"a":2}')
@example('{"a":1,"\\u0061":2}')
@example('{"a" :1,"a":2}')
@example('{"x":{"a":1,"a":2}}')
@example('{"x":[{"a":1},{"b":1,"b":2}]}')
@example(' {"a":1} ')
@example('{"a":1} x')
@example('{"a":NaN}')
@example("")
def test_json_object_refuses_and_accepts_what_the_reference_does(text: str) -> None:
    assert fast_json_object(text) == reference_json_object(text)


EC_P256 = ec.generate_private_key(ec.SECP256R1())
EC_P384 = ec.generate_private_key(ec.SECP384R1())
EC_P521 = ec.generate_private_key(ec.SECP521R1())
RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED25519 = ed25519.Ed25519PrivateKey.generate()

_KEYS: dict[str, Key] = {
    "ES256": ECKey.import_key(EC_P256),
    "ES384": ECKey.import_key(EC_P384),
    "ES512": ECKey.import_key(EC_P521),
    "RS256": RSAKey.import_key(RSA_2048),
    "RS512": RSAKey.import_key(RSA_2048),
    "PS256": RSAKey.import_key(RSA_2048),
    "PS384": RSAKey.import_key(RSA_2048),
    "EdDSA": OKPKey.import_key(ED25519),
}
_JOSERFC = {model.name: model for model in JWS_ALGORITHMS}


def _public(alg: str) -> VerificationKey:
    return VerificationKey(
        kid=alg, alg=alg, key=type(_KEYS[alg]).import_key(_KEYS[alg].as_dict(private=False))
    )


@settings(max_examples=300, database=None, deadline=None)
@given(
    alg=st.sampled_from(sorted(_KEYS)),
    message=st.binary(max_size=64),
    change=st.sampled_from(
        [
            "none",
            "flip",
            "truncate",
            "extend",
            "zero-before-second-half",
            "other-message",
            "garbage",
        ]
    ),
    garbage=st.binary(max_size=140),
)
def test_bound_signature_check_agrees_with_joserfc(
    alg: str, message: bytes, change: str, garbage: bytes
) -> None:
    model, private = _JOSERFC[alg], _KEYS[alg]
    signature = model.sign(message, private)
    if change == "flip":
        signature = bytes([signature[0] ^ 1]) + signature[1:]
    elif change == "truncate":
        signature = signature[:-1]
    elif change == "extend":
        signature += b"\x00"
    elif change == "zero-before-second-half":
        # For ES*: R || 0x00 || S still holds the same integers; JWS allows one length only.
        half = len(signature) // 2
        signature = signature[:half] + b"\x00" + signature[half:]
    elif change == "other-message":
        message += b"!"
    elif change == "garbage":
        signature = garbage
    key = _public(alg)
    assert key.check_signature is not None
    assert key.check_signature(message, signature) == model.verify(message, signature, key.key)
    assert key.check_signature(message, signature) == (change == "none")


class _OneKey:
    def __init__(self, key: VerificationKey) -> None:
        self._key = key

    def find(self, kid: str) -> VerificationKey | None:
        return self._key if kid == self._key.kid else None


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        pytest.param("ES384", ECKey.import_key(EC_P256), id="p256-key-bound-to-es384"),
        pytest.param("ES256", ECKey.import_key(EC_P256, {"use": "enc"}), id="encryption-key"),
        pytest.param("ES256", ECKey.import_key(EC_P256, {"alg": "ES384"}), id="jwk-says-es384"),
        pytest.param("ES256", ECKey.import_key(EC_P256, {"key_ops": ["sign"]}), id="no-verify-op"),
    ],
)
def test_a_key_that_does_not_fit_its_algorithm_verifies_nothing(alg: str, key: Key) -> None:
    """joserfc's check_key now runs once, when the VerificationKey is made: still every token
    naming such a key is refused, even one its private key signed."""
    verification_key = VerificationKey(kid="k", alg=alg, key=key)
    assert verification_key.check_signature is None
    token = mint({"exp": 1_900_000_000, "iat": 1}, SigningKey(kid="k", alg=alg, key=key))
    with pytest.raises(UntrustedToken) as caught:
        verify(
            token,
            _OneKey(verification_key),
            algorithms=frozenset({alg}),
            issuer=None,
            audience=None,
            typ=None,
            leeway_s=0,
            clock=FrozenClock(),
        )
    assert caught.value.internal == f"kid 'k' does not fit {alg}"
