"""The kept hand-written fast paths of tokend.core.jws_keys against the code they replace.

ES*/RS*/PS* signatures are checked on ``cryptography`` with joserfc's parameters bound once per
key; it must accept and reject exactly what joserfc's own verify does. ES* signatures are made
the same way; joserfc's verify must accept them, and they must have the one length JWS allows.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwa import JWS_ALGORITHMS
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from tokend.core.jws_keys import SigningKey, _ecdsa_sign
from tokend.core.jwt import VerificationKey

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


@settings(max_examples=100, database=None, deadline=None)
@given(alg=st.sampled_from(sorted(_KEYS)), message=st.binary(max_size=64))
def test_bound_signer_signs_as_joserfc_does(alg: str, message: bytes) -> None:
    model, private = _JOSERFC[alg], _KEYS[alg]
    key = SigningKey(kid=alg, alg=alg, key=private)
    signature = key.sign(message)
    # ECDSA signatures are randomised: joserfc's verify, not its bytes, is the reference.
    assert model.verify(message, signature, _public(alg).key)
    assert not model.verify(message + b"!", signature, _public(alg).key)
    if alg.startswith("ES"):
        assert key.sign.func is _ecdsa_sign  # type: ignore[attr-defined]  # a partial
        # RFC 7518 §3.4: R and S, each exactly the curve's size, with leading zeros kept.
        assert len(signature) == len(model.sign(message, private)) == 2 * {
            "ES256": 32, "ES384": 48, "ES512": 66
        }[alg]  # fmt: skip
    else:
        assert signature == model.sign(message, private) or alg.startswith("PS")


def test_a_signing_key_of_an_unknown_algorithm_fails_when_it_signs() -> None:
    key = SigningKey(kid="x", alg="XS999", key=_KEYS["ES256"])
    with pytest.raises(KeyError, match="XS999"):
        key.sign(b"m")
