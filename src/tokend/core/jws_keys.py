"""Keys for JWS (RFC 7515): a public key bound to one algorithm, signing with a private one, and
a shared HS256 secret the caller supplies per token (``SharedSecret``, never from the keyring).

joserfc supplies the key objects and the signature algorithms; whether a key fits its algorithm
is checked once, when the ``VerificationKey`` is made. One fast path: ES*/RS*/PS* signatures are
checked on ``cryptography`` directly, with joserfc's parameters bound once per key (see
``_bind_signature_check``; tests/unit/core/test_jwt_fast_paths.py holds it to joserfc's verify).
A ``SharedSecret`` is HMAC SHA-256 on the standard library's ``hmac``, as joserfc's HS256 is.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Final, Literal, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import (
    ECDSA,
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.hashes import HashAlgorithm
from joserfc.errors import JoseError
from joserfc.jwa import JWS_ALGORITHMS, ESAlgorithm, JWSAlgModel, RSAAlgorithm, RSAPSSAlgorithm
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

#: Algorithms a key may be bound to. A verifier's allow-list narrows this further.
ALGORITHMS: Final[Mapping[str, JWSAlgModel]] = {
    model.name: model
    for model in JWS_ALGORITHMS
    if model.name
    in {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    | {"ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
}
_PRIVATE_JWK_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_INFERRED_ALG: Final[Mapping[tuple[str, str | None], str]] = {
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA",
    ("RSA", None): "RS256",
}
#: A signature check bound to one key: (signing input, signature) -> valid.
SignatureCheck = Callable[[bytes, bytes], bool]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public (or, for HS*, shared) key bound to exactly one algorithm."""

    kid: str
    alg: str
    key: Key = field(repr=False)
    #: The signature check for ``alg`` bound to ``key``, or None when the key does not fit
    #: ``alg``. Made once here (both are immutable): joserfc's key checks run once per key.
    check_signature: SignatureCheck | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "check_signature", _bind_signature_check(self.alg, self.key))


#: A signature made with one key: signing input -> signature.
Signer = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    key: Key = field(repr=False)  # holds the private key
    #: ``alg``'s signature with ``key``, bound once here (both are immutable).
    sign: Signer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sign", _bind_signer(self.alg, self.key))


@dataclass(frozen=True, slots=True)
class SharedSecret:
    """An HS256 secret the caller supplies for one token, instead of a key from a ``KeySource``.

    Seed 004's gateway signs with each Kong consumer's own secret, as Kong's jwt plugin checks
    it: header ``{"alg":"HS256","typ":"JWT"}`` with no ``kid`` (the caller, not the token, says
    which secret applies). Tokens are parsed and checked exactly like keyring tokens; only the
    key comes from the caller, and it signs and verifies HS256 only.
    """

    secret: bytes = field(repr=False)
    alg: ClassVar[Literal["HS256"]] = "HS256"

    def __post_init__(self) -> None:
        # An empty HMAC key makes a signature anyone can compute. A short one is accepted: Kong
        # sets no minimum and the seed's consumers keep theirs.
        if not self.secret:
            raise ValueError("a shared secret must not be empty")

    def sign(self, signing_input: bytes) -> bytes:
        # RFC 7518 §3.2: HMAC SHA-256 keyed with the secret's bytes. The standard library's
        # hmac, which joserfc's HS256 also runs: a joserfc OctKey made per call (the secret
        # changes per consumer) would also build its JWK, ~2 µs per token for nothing.
        return hmac.digest(self.secret, signing_input, "sha256")

    def check_signature(self, signing_input: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(self.sign(signing_input), signature)


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
    if not isinstance(alg, str) or alg not in ALGORITHMS or ALGORITHMS[alg].key_type != kty:
        raise ValueError("JWK algorithm is missing, unsupported or does not fit its key type")
    data: dict[str, str | list[str]] = {k: v for k, v in public.items() if isinstance(v, str)}
    try:
        # NIST SP 800-131A: RSA under 2048 bits is not acceptable (joserfc would only warn).
        if kty == "RSA" and _rsa_modulus_bits(data.get("n")) < 2048:
            raise ValueError("RSA key is shorter than 2048 bits")
        key = _import_public_key(kty, data)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"JWK is not a usable {kty} key") from exc
    ALGORITHMS[alg].check_key(key)
    return VerificationKey(kid=kid, alg=alg, key=key)


def _bind_signature_check(alg: str, key: Key) -> SignatureCheck | None:
    model = ALGORITHMS.get(alg)
    if model is None:
        return None
    try:
        model.check_key(key)  # key type, curve, and the JWK's own "use" and "alg"
        key.check_key_op("verify")  # and its own "key_ops"
        # Fast path, kept after measuring (2026-12): ES*/RS*/PS* verified on cryptography with
        # joserfc's parameters (public key, hash, padding, R||S size) bound once here, instead of
        # joserfc's verify rebuilding them per call. ~2.9 µs of ~46 µs per ES256 verification
        # (in-process), ~1.1% of the ~260 µs of server CPU a guarded request costs (+1 to +2%
        # end to end when removed alone, within the noise). Kept with the header parse cache
        # (core.jwt._header), the two largest: without all five fast paths the guarded route
        # cost +8 to +10% end to end, with these two +2%. Held to joserfc's verify by
        # tests/unit/core/test_jwt_fast_paths.py.
        if isinstance(model, ESAlgorithm) and isinstance(key, ECKey):
            ecdsa, size = _ecdsa_scheme(model, key)
            return partial(_ecdsa_is_valid, key.get_op_key("verify"), ecdsa, size)
        if isinstance(model, RSAAlgorithm | RSAPSSAlgorithm) and isinstance(key, RSAKey):
            return partial(_rsa_is_valid, key.get_op_key("verify"), model.padding, model.hash_alg())
    except JoseError:
        return None
    return partial(_joserfc_is_valid, model, key)  # HS*, EdDSA: cheap enough as they are


def _ecdsa_is_valid(
    public: EllipticCurvePublicKey, ecdsa: ECDSA, size: int, message: bytes, signature: bytes
) -> bool:
    # RFC 7518 §3.4: the JWS signature is R || S, each ``size`` bytes; cryptography wants DER.
    if len(signature) != 2 * size:
        return False
    r, s = int.from_bytes(signature[:size]), int.from_bytes(signature[size:])
    try:
        public.verify(encode_dss_signature(r, s), message, ecdsa)
    except InvalidSignature:
        return False
    return True


def _rsa_is_valid(
    public: RSAPublicKey,
    rsa_padding: AsymmetricPadding,
    hash_algorithm: HashAlgorithm,
    message: bytes,
    signature: bytes,
) -> bool:
    try:
        public.verify(signature, message, rsa_padding, hash_algorithm)
    except InvalidSignature:
        return False
    return True


def _joserfc_is_valid(model: JWSAlgModel, key: Key, message: bytes, signature: bytes) -> bool:
    return model.verify(message, signature, key)


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


def _bind_signer(alg: str, key: Key) -> Signer:
    """``alg``'s signature bound to ``key``.

    Fast path, added after measuring (2026-12, py-spy of ``oidc_client_credentials``):
    joserfc's ES256 ``sign`` fetches the key's cryptography object, builds the ECDSA and hash
    objects and re-encodes the DER signature through its own integer helpers on every call,
    about a quarter of the 50 µs a token's signature took; bound once, only the signature and
    its RFC 7518 §3.4 encoding (R || S, each the curve's size) are left per token.
    ``tests/unit/core/test_jwt_fast_paths.py`` checks its signatures verify as joserfc's.
    Other algorithms sign through joserfc as they are.
    """
    model = ALGORITHMS.get(alg)
    if model is None:
        return partial(_unknown_algorithm, alg)
    if isinstance(model, ESAlgorithm) and isinstance(key, ECKey):
        ecdsa, size = _ecdsa_scheme(model, key)
        return partial(_ecdsa_sign, key.get_op_key("sign"), ecdsa, size)
    return partial(_joserfc_sign, model, key)


def _ecdsa_scheme(model: ESAlgorithm, key: ECKey) -> tuple[ECDSA, int]:
    """What joserfc's ES* sign and verify rebuild per call besides the key's cryptography
    object: the ECDSA scheme with the algorithm's hash, and the size of R and S."""
    return ECDSA(model.hash_alg()), (key.curve_key_size + 7) // 8


def _ecdsa_sign(private: EllipticCurvePrivateKey, ecdsa: ECDSA, size: int, message: bytes) -> bytes:
    r, s = decode_dss_signature(private.sign(message, ecdsa))
    return r.to_bytes(size) + s.to_bytes(size)


def _joserfc_sign(model: JWSAlgModel, key: Key, message: bytes) -> bytes:
    return model.sign(message, key)


def _unknown_algorithm(alg: str, message: bytes) -> bytes:
    raise KeyError(alg)
