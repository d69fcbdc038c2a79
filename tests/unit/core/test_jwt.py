"""Verification against real attacks: every malicious token is built by hand from base64url JSON
and signed with ``cryptography`` directly, so nothing in tokend helps to make it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import example, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from tests.secrets_seen import SecretsSeen
from tokend.core.clock import FrozenClock
from tokend.core.errors import InvalidToken
from tokend.core.jwt import (
    Claims,
    MalformedToken,
    SharedSecret,
    SigningKey,
    TokenExpired,
    TokenNotForUs,
    TokenNotYetValid,
    UntrustedToken,
    VerificationKey,
    _b64decode,
    mint,
    read_unverified,
    verification_key_from_jwk,
    verify,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = int(NOW.timestamp())
ISSUER = "https://issuer.test"
AUDIENCE = "api://orders"
LEEWAY_S = 30

EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
ATTACKER_EC = ec.generate_private_key(ec.SECP256R1())


PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _pem(private: PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _signing(
    kid: str, alg: str, kind: type[ECKey | RSAKey | OKPKey], private: PrivateKey
) -> tuple[SigningKey, VerificationKey]:
    key = kind.import_key(_pem(private), parameters={"kid": kid, "alg": alg, "use": "sig"})
    return SigningKey(kid=kid, alg=alg, key=key), verification_key_from_jwk(key.as_dict())


ES256, ES256_PUBLIC = _signing("ec-1", "ES256", ECKey, EC_PRIVATE)
RS256, RS256_PUBLIC = _signing("rs-1", "RS256", RSAKey, RSA_PRIVATE)
EDDSA, EDDSA_PUBLIC = _signing("ed-1", "EdDSA", OKPKey, ED_PRIVATE)


class KeysById:
    """A KeySource over fixed keys, as a resource server with a static JWKS would have."""

    def __init__(self, *keys: VerificationKey) -> None:
        self._keys = {key.kid: key for key in keys}

    def find(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)


KEYS = KeysById(ES256_PUBLIC, RS256_PUBLIC, EDDSA_PUBLIC)


@pytest.fixture(autouse=True, scope="module")
def _register_private_keys(secrets_seen: SecretsSeen) -> None:
    for key in (ES256, RS256, EDDSA):
        secrets_seen.add(str(key.key.as_dict(private=True)["d"]))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: object) -> str:
    return b64(json.dumps(value).encode())


def es256_signature(private: ec.EllipticCurvePrivateKey, signing_input: bytes) -> str:
    r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": EPOCH - 5,
        "exp": EPOCH + 300,
        "scope": "orders:read orders:write",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def header(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"alg": "ES256", "kid": "ec-1", "typ": "at+jwt"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hand_made(
    head: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
    signer: ec.EllipticCurvePrivateKey = EC_PRIVATE,
) -> str:
    """A token signed with the real ES256 key unless ``signer`` says otherwise."""
    signing_input = f"{segment(head or header())}.{segment(body or claims())}"
    return f"{signing_input}.{es256_signature(signer, signing_input.encode())}"


def check(token: str, keys: KeysById | SharedSecret = KEYS, **overrides: Any) -> Claims:
    options: dict[str, Any] = {
        "algorithms": frozenset({"ES256", "RS256", "EdDSA"}),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "typ": "at+jwt",
        "leeway_s": LEEWAY_S,
        "clock": FrozenClock(NOW),
    }
    options.update(overrides)
    return verify(token, keys, **options)


def alg_none() -> str:
    return f"{segment(header(alg='none'))}.{segment(claims())}."


def hs256_signed_with_the_rsa_public_key() -> str:
    public_pem = RSA_PRIVATE.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{segment(header(alg='HS256', kid='rs-1'))}.{segment(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tampered_payload() -> str:
    head, _body, signature = hand_made().split(".")
    return f"{head}.{segment(claims(sub='admin'))}.{signature}"


def tampered_signature() -> str:
    token = hand_made()
    middle = len(token) - 20
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def rs256_not_in_allow_list() -> str:
    signing_input = f"{segment(header(alg='RS256', kid='rs-1'))}.{segment(claims())}"
    signature = RSA_PRIVATE.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def duplicate_alg_member() -> str:
    raw = b'{"alg":"none","alg":"ES256","kid":"ec-1","typ":"at+jwt"}'
    signing_input = f"{b64(raw)}.{segment(claims())}"
    return f"{signing_input}.{es256_signature(EC_PRIVATE, signing_input.encode())}"


def payload_not_an_object() -> str:
    signing_input = f"{segment(header())}.{segment(['sub', 'alice'])}"
    return f"{signing_input}.{es256_signature(EC_PRIVATE, signing_input.encode())}"


def nan_expiry() -> str:
    body = json.dumps({**claims(), "exp": float("nan")}).encode()
    signing_input = f"{segment(header())}.{b64(body)}"
    return f"{signing_input}.{es256_signature(EC_PRIVATE, signing_input.encode())}"


def _rsa_public_jwk(private: rsa.RSAPrivateKey) -> dict[str, object]:
    numbers = private.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": "weak",
        "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }


def overflowing_expiry() -> str:
    # 1e999 is valid JSON that Python reads as infinity: a token that would never expire.
    body = json.dumps(claims()).replace(str(EPOCH + 300), "1e999").encode()
    signing_input = f"{segment(header())}.{b64(body)}"
    return f"{signing_input}.{es256_signature(EC_PRIVATE, signing_input.encode())}"


def huge_integer_expiry() -> str:
    # A 401-digit JSON integer: exact in Python, but math.isfinite and float() raise
    # OverflowError on it (a 500 before, not a refused token).
    body = json.dumps(claims()).replace(str(EPOCH + 300), "1" + "0" * 400).encode()
    signing_input = f"{segment(header())}.{b64(body)}"
    return f"{signing_input}.{es256_signature(EC_PRIVATE, signing_input.encode())}"


ATTACKER_JWK = ECKey.import_key(_pem(ATTACKER_EC)).as_dict(private=False)

# The gateway's HS256 tokens (seed 004): a secret the caller supplies, no kid in the header.
CONSUMER_SECRET = b"kong-consumer-secret-5d0c8f1e9a7b"
SHARED = SharedSecret(CONSUMER_SECRET)
#: What the gateway asks for: this consumer's secret, HS256 only.
AS_GATEWAY: dict[str, Any] = {"keys": SHARED, "algorithms": frozenset({"HS256"}), "typ": "JWT"}


def hs_header(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"alg": "HS256", "typ": "JWT"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def hmac_signed(head: str, body: str, secret: bytes = CONSUMER_SECRET) -> str:
    """A token whose HMAC covers exactly these segments, as whoever holds the secret (a sloppy
    client minting its own tokens, or a replay of one) could write it."""
    signing_input = f"{head}.{body}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def hs256(
    head: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
    secret: bytes = CONSUMER_SECRET,
) -> str:
    return hmac_signed(segment(head or hs_header()), segment(body or claims()), secret)


def _insert(text: str, extra: str) -> str:
    middle = len(text) // 2
    return text[:middle] + extra + text[middle:]


def signature_with_a_non_alphabet_character() -> str:
    # A lenient decoder skips the four and finds the same MAC: a second spelling of the token.
    head, body, signature = hs256().split(".")
    return f"{head}.{body}.{_insert(signature, '!*!*')}"


def signature_in_the_standard_base64_alphabet() -> str:
    # "+" and "/" are base64, not base64url; a lenient decoder reads them as "-" and "_".
    jti = 0
    while not {"-", "_"} & set((token := hs256(body=claims(jti=str(jti)))).split(".")[2]):
        jti += 1
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature.translate(str.maketrans('-_', '+/'))}"


def payload_with_non_alphabet_characters_signed_over() -> str:
    return hmac_signed(segment(hs_header()), _insert(segment(claims()), "*\n*\n"))


def duplicate_claim_signed_with_the_secret() -> str:
    # json.loads keeps the last "sub": a signer's checks could see "alice", the verifier "admin".
    body = json.dumps(claims()).replace('"sub": "alice"', '"sub": "alice", "sub": "admin"')
    return hmac_signed(segment(hs_header()), b64(body.encode()))


def duplicate_alg_signed_with_the_secret() -> str:
    return hmac_signed(b64(b'{"alg":"none","alg":"HS256","typ":"JWT"}'), segment(claims()))


def non_canonical_hmac_signature() -> str:
    # 32 bytes in 43 characters leave 2 spare bits; setting one decodes to the same MAC.
    head, body, signature = hs256().split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    return f"{head}.{body}.{respelled}"


Attack = tuple[Callable[[], str], type[InvalidToken], str, dict[str, Any]]
ATTACKS: dict[str, Attack] = {
    "alg-none": (alg_none, UntrustedToken, "alg", {}),
    "alg-none-even-if-allowed": (
        alg_none,
        UntrustedToken,
        "alg",
        {"algorithms": frozenset({"ES256", "none"})},
    ),
    "hs256-with-public-key-as-secret": (
        hs256_signed_with_the_rsa_public_key,
        UntrustedToken,
        "is for RS256",
        {"algorithms": frozenset({"RS256", "HS256"})},
    ),
    "unknown-kid": (lambda: hand_made(header(kid="rotated-away")), UntrustedToken, "kid", {}),
    "missing-kid": (lambda: hand_made(header(kid=None)), UntrustedToken, "kid", {}),
    "jku-header": (
        lambda: hand_made(header(jku="https://evil.test/jwks.json")),
        UntrustedToken,
        "jku",
        {},
    ),
    "x5u-header": (
        lambda: hand_made(header(x5u="https://evil.test/cert.pem")),
        UntrustedToken,
        "x5u",
        {},
    ),
    "x5c-header": (lambda: hand_made(header(x5c=["MIIB"])), UntrustedToken, "x5c", {}),
    "embedded-jwk-header": (
        lambda: hand_made(header(jwk=ATTACKER_JWK, kid=None), signer=ATTACKER_EC),
        UntrustedToken,
        "jwk",
        {},
    ),
    "embedded-jwk-with-known-kid": (
        lambda: hand_made(header(jwk=ATTACKER_JWK)),
        UntrustedToken,
        "jwk",
        {},
    ),
    "signed-by-attacker-key-with-known-kid": (
        lambda: hand_made(signer=ATTACKER_EC),
        UntrustedToken,
        "signature",
        {},
    ),
    "expired": (
        lambda: hand_made(body=claims(exp=EPOCH - LEEWAY_S - 1)),
        TokenExpired,
        "exp",
        {},
    ),
    "not-yet-valid-nbf": (
        lambda: hand_made(body=claims(nbf=EPOCH + LEEWAY_S + 60)),
        TokenNotYetValid,
        "nbf",
        {},
    ),
    "issued-in-the-future": (
        lambda: hand_made(body=claims(iat=EPOCH + LEEWAY_S + 60)),
        TokenNotYetValid,
        "iat",
        {},
    ),
    "missing-exp": (lambda: hand_made(body=claims(exp=None)), TokenNotForUs, "exp", {}),
    "nan-exp": (nan_expiry, MalformedToken, "payload", {}),
    "overflowing-exp": (overflowing_expiry, MalformedToken, "exp", {}),
    "huge-integer-exp": (huge_integer_expiry, MalformedToken, "exp", {}),
    "wrong-iss": (
        lambda: hand_made(body=claims(iss="https://evil.test")),
        TokenNotForUs,
        "iss",
        {},
    ),
    "wrong-aud-string": (
        lambda: hand_made(body=claims(aud="api://billing")),
        TokenNotForUs,
        "aud",
        {},
    ),
    "wrong-aud-list": (
        lambda: hand_made(body=claims(aud=["api://billing", "api://users"])),
        TokenNotForUs,
        "aud",
        {},
    ),
    "wrong-typ-id-token-as-access-token": (
        lambda: hand_made(header(typ="JWT")),
        TokenNotForUs,
        "typ",
        {},
    ),
    "missing-typ": (lambda: hand_made(header(typ=None)), TokenNotForUs, "typ", {}),
    "tampered-payload": (tampered_payload, UntrustedToken, "signature", {}),
    "tampered-signature": (tampered_signature, UntrustedToken, "signature", {}),
    "unknown-crit": (
        lambda: hand_made(header(crit=["urn:evil:ext"], **{"urn:evil:ext": True})),
        UntrustedToken,
        "crit",
        {},
    ),
    "unencoded-payload-b64": (
        lambda: hand_made(header(b64=False, crit=["b64"])),
        UntrustedToken,
        "crit",
        {},
    ),
    "alg-not-in-allow-list": (
        rs256_not_in_allow_list,
        UntrustedToken,
        "not allowed",
        {"algorithms": frozenset({"ES256"})},
    ),
    "duplicate-header-member": (duplicate_alg_member, MalformedToken, "header", {}),
    "payload-not-an-object": (payload_not_an_object, MalformedToken, "payload", {}),
    "garbage-empty": (lambda: "", MalformedToken, "three segments", {}),
    "garbage-one-part": (lambda: "eyJhbGciOiJFUzI1NiJ9", MalformedToken, "three segments", {}),
    "garbage-four-parts": (lambda: hand_made() + ".AAAA", MalformedToken, "three segments", {}),
    "garbage-not-base64": (lambda: "!!!.???.***", MalformedToken, "base64url", {}),
    "garbage-padded-base64": (
        lambda: segment(header()) + "==." + hand_made().split(".", 1)[1],
        MalformedToken,
        "base64url",
        {},
    ),
    "garbage-header-not-json": (
        lambda: f"{b64(b'not json')}.{segment(claims())}.AAAA",
        MalformedToken,
        "header",
        {},
    ),
    "garbage-header-not-an-object": (
        lambda: f"{segment(['ES256'])}.{segment(claims())}.AAAA",
        MalformedToken,
        "header",
        {},
    ),
    "garbage-huge": (lambda: "a" * 100_000, MalformedToken, "length", {}),
    # A SharedSecret (the gateway's per-consumer HS256 key): the same strictness, no confusion.
    "shared-secret-signature-with-a-non-alphabet-character": (
        signature_with_a_non_alphabet_character,
        MalformedToken,
        "signature",
        AS_GATEWAY,
    ),
    "shared-secret-signature-in-the-standard-base64-alphabet": (
        signature_in_the_standard_base64_alphabet,
        MalformedToken,
        "signature",
        AS_GATEWAY,
    ),
    "shared-secret-non-canonical-signature": (
        non_canonical_hmac_signature,
        MalformedToken,
        "signature",
        AS_GATEWAY,
    ),
    "shared-secret-payload-with-non-alphabet-characters": (
        payload_with_non_alphabet_characters_signed_over,
        MalformedToken,
        "payload",
        AS_GATEWAY,
    ),
    "shared-secret-duplicate-claim": (
        duplicate_claim_signed_with_the_secret,
        MalformedToken,
        "payload",
        AS_GATEWAY,
    ),
    "shared-secret-duplicate-alg": (
        duplicate_alg_signed_with_the_secret,
        MalformedToken,
        "header",
        AS_GATEWAY,
    ),
    "shared-secret-signed-with-another-secret": (
        lambda: hs256(secret=b"another-consumer-secret-0000000"),
        UntrustedToken,
        "signature",
        AS_GATEWAY,
    ),
    "shared-secret-alg-none": (
        lambda: f"{segment(hs_header(alg='none'))}.{segment(claims())}.",
        UntrustedToken,
        "alg",
        AS_GATEWAY | {"algorithms": frozenset({"HS256", "none"})},
    ),
    "shared-secret-jku-header": (
        lambda: hs256(hs_header(jku="https://evil.test/jwks.json")),
        UntrustedToken,
        "jku",
        AS_GATEWAY,
    ),
    "shared-secret-expired": (
        lambda: hs256(body=claims(exp=EPOCH - LEEWAY_S - 1)),
        TokenExpired,
        "exp",
        AS_GATEWAY,
    ),
    "hs256-when-the-caller-did-not-ask-for-it": (
        hs256,
        UntrustedToken,
        "not allowed",
        AS_GATEWAY | {"algorithms": frozenset({"ES256"})},
    ),
    "es256-token-under-a-shared-secret": (
        hand_made,
        UntrustedToken,
        "is for HS256",
        AS_GATEWAY | {"algorithms": frozenset({"ES256", "HS256"}), "typ": "at+jwt"},
    ),
    "hs256-token-against-the-keyring": (
        hs256,
        UntrustedToken,
        "kid",
        {"algorithms": frozenset({"ES256", "HS256"}), "typ": "JWT"},
    ),
    "hs256-naming-a-keyring-kid": (
        lambda: hs256(hs_header(kid="ec-1")),
        UntrustedToken,
        "is for ES256",
        {"algorithms": frozenset({"ES256", "HS256"}), "typ": "JWT"},
    ),
}


@pytest.mark.parametrize(("make", "error", "reason", "overrides"), ATTACKS.values(), ids=ATTACKS)
def test_malicious_token_is_rejected(
    make: Callable[[], str],
    error: type[InvalidToken],
    reason: str,
    overrides: dict[str, Any],
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(make())
    with pytest.raises(error) as caught:
        check(token, **overrides)
    assert caught.value.internal is not None
    assert reason in caught.value.internal
    # The client sees fixed text: never the token or any part of it.
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"
    for part in filter(None, token.split(".")):
        assert part not in caught.value.description
        assert part[:64] not in caught.value.internal


def test_a_shared_secret_token_is_seed_004s_format_and_verifies(
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(mint(claims(), SHARED))
    compact = json.dumps(claims(), separators=(",", ":")).encode()
    # Seed 004 / Kong's jwt plugin: exactly this header (no kid), HMAC SHA-256 of the segments.
    assert token == hmac_signed("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", b64(compact))
    verified = check(token, **AS_GATEWAY)
    assert dict(verified) == claims()
    assert (verified.kid, verified.alg, verified.typ) == (None, "HS256", "JWT")


def test_a_kid_in_a_shared_secret_token_selects_nothing(secrets_seen: SecretsSeen) -> None:
    token = secrets_seen.add(hs256(hs_header(kid="rs-1")))
    assert check(token, **AS_GATEWAY).kid is None
    with pytest.raises(UntrustedToken):
        check(token, **AS_GATEWAY | {"keys": SharedSecret(b"another-consumer-secret-0000")})


def test_a_short_shared_secret_still_works(secrets_seen: SecretsSeen) -> None:
    """Kong sets no minimum length; the seed's consumers with short secrets keep working."""
    short = SharedSecret(b"abc")
    token = secrets_seen.add(mint(claims(), short))
    assert check(token, **AS_GATEWAY | {"keys": short}).subject == "alice"


def test_an_empty_shared_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        SharedSecret(b"")


def test_a_shared_secret_repr_hides_the_secret() -> None:
    assert CONSUMER_SECRET.decode() not in repr(SHARED)
    assert "kong" not in repr(SHARED)


def test_read_unverified_checks_nothing_but_parses_as_strictly(secrets_seen: SecretsSeen) -> None:
    forged = secrets_seen.add(hs256(secret=b"not-the-consumer-secret-000000"))
    header, payload = read_unverified(forged)
    assert (dict(header), dict(payload)) == (hs_header(), claims())
    for malformed in (
        payload_with_non_alphabet_characters_signed_over(),
        duplicate_claim_signed_with_the_secret(),
        duplicate_alg_signed_with_the_secret(),
        hand_made() + ".AAAA",
    ):
        with pytest.raises(MalformedToken):
            read_unverified(secrets_seen.add(malformed))


@pytest.mark.parametrize(("key", "typ"), [(ES256, "at+jwt"), (RS256, "JWT"), (EDDSA, "JWT")])
def test_minted_token_verifies_with_its_public_key(
    key: SigningKey, typ: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(mint(claims(), key, typ=typ))
    header_json = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header_json == {"alg": key.alg, "kid": key.kid, "typ": typ}
    verified = check(token, typ=typ)
    assert dict(verified) == claims()
    assert (verified.kid, verified.alg, verified.typ) == (key.kid, key.alg, typ)
    assert verified.subject == "alice"
    assert verified.audience == (AUDIENCE,)
    assert verified.scopes == {"orders:read", "orders:write"}
    assert verified.expires_at == datetime.fromtimestamp(EPOCH + 300, UTC)


def test_signing_key_repr_hides_the_private_key() -> None:
    text = repr(ES256)
    assert "ec-1" in text
    assert str(ES256.key.as_dict(private=True)["d"]) not in text
    assert "key=" not in text


@pytest.mark.parametrize(
    ("expires_in_s", "leeway_s", "is_valid"),
    [
        (-10, 30, True),  # expired 10 s ago, inside the 30 s skew allowance
        (-30, 30, False),  # exactly at exp + leeway: RFC 7519 §4.1.4 says on or after is expired
        (-10, 0, False),
        (1, 0, True),
    ],
)
def test_leeway_allows_clock_skew_on_exp(
    expires_in_s: int, leeway_s: int, is_valid: bool, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(mint(claims(exp=EPOCH + expires_in_s), ES256, typ="at+jwt"))
    if is_valid:
        assert check(token, leeway_s=leeway_s)["exp"] == EPOCH + expires_in_s
    else:
        with pytest.raises(TokenExpired):
            check(token, leeway_s=leeway_s)


def test_leeway_allows_clock_skew_on_nbf_and_iat(secrets_seen: SecretsSeen) -> None:
    token = secrets_seen.add(mint(claims(nbf=EPOCH + 20, iat=EPOCH + 20), ES256, typ="at+jwt"))
    assert check(token)["nbf"] == EPOCH + 20
    with pytest.raises(TokenNotYetValid):
        check(token, leeway_s=0)


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"])
def test_typ_matches_case_insensitively_with_or_without_application_prefix(
    typ: str, secrets_seen: SecretsSeen
) -> None:
    token = secrets_seen.add(mint(claims(), ES256, typ=typ))
    assert check(token, typ="at+jwt").typ == typ


def test_checks_left_as_none_are_skipped(secrets_seen: SecretsSeen) -> None:
    token = secrets_seen.add(mint(claims(iss="other", aud="other"), ES256, typ="whatever"))
    assert check(token, issuer=None, audience=None, typ=None).subject == "alice"


def test_any_expected_audience_in_the_token_audience_list_is_enough(
    secrets_seen: SecretsSeen,
) -> None:
    token = secrets_seen.add(mint(claims(aud=["api://billing", AUDIENCE]), ES256, typ="at+jwt"))
    assert check(token, audience=AUDIENCE).audience == ("api://billing", AUDIENCE)
    assert check(token, audience={"api://users", "api://billing"}).subject == "alice"


def test_required_claims_are_configurable(secrets_seen: SecretsSeen) -> None:
    token = secrets_seen.add(mint(claims(iat=None), ES256, typ="at+jwt"))
    with pytest.raises(TokenNotForUs):
        check(token)
    assert check(token, required_claims=("exp",)).subject == "alice"
    with pytest.raises(TokenNotForUs):
        check(token, required_claims=("exp", "jti"))


def test_jwk_with_private_members_yields_a_public_key_only() -> None:
    key = verification_key_from_jwk(RS256.key.as_dict(private=True))
    assert key.alg == "RS256"
    assert key.kid == "rs-1"
    assert not key.key.is_private


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}, id="symmetric"),
        pytest.param({**ATTACKER_JWK, "use": "enc", "kid": "e"}, id="encryption-key"),
        pytest.param({**ATTACKER_JWK}, id="no-kid"),
        pytest.param({**ATTACKER_JWK, "kid": "a", "alg": "RS256"}, id="alg-of-another-kty"),
        pytest.param(
            _rsa_public_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505  (the weak key is the point)
            id="rsa-1024",
        ),
    ],
)
def test_jwks_entries_that_cannot_verify_safely_are_refused(jwk: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="JWK"):
        verification_key_from_jwk(jwk)


# Headers that reach key lookup and signature checking, with random signatures and payloads.
_headers = st.fixed_dictionaries(
    {
        "alg": st.sampled_from(["ES256", "RS256", "EdDSA", "HS256", "none", "PS256"]),
        "kid": st.sampled_from(["ec-1", "rs-1", "ed-1", "unknown"]),
    },
    optional={"typ": st.sampled_from(["at+jwt", "JWT"]), "crit": st.just(["exp"])},
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
_segments = st.one_of(
    _json.map(segment),
    st.binary(max_size=300).map(b64),
    st.text(max_size=20),
)


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.tuples(_segments, _segments, _segments).map(".".join),
        st.tuples(_headers.map(segment), _segments, st.binary(max_size=300).map(b64)).map(".".join),
    )
)
def test_arbitrary_input_only_ever_raises_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        check(token)


@pytest.mark.parametrize("where", [0, 1, 2])
def test_non_ascii_in_any_segment_is_malformed_not_a_crash(
    where: int, secrets_seen: SecretsSeen
) -> None:
    parts = secrets_seen.add(mint(claims(), ES256, typ="at+jwt")).split(".")
    parts[where] = "é" + parts[where]
    with pytest.raises(MalformedToken):
        check(".".join(parts), typ="at+jwt")


def test_a_second_spelling_of_the_signature_is_malformed(secrets_seen: SecretsSeen) -> None:
    """86 base64url characters carry 64 bytes and 4 spare bits; setting one of them would decode
    to the same signature, so it must be refused (a token has exactly one spelling)."""
    header, payload, signature = secrets_seen.add(mint(claims(), ES256, typ="at+jwt")).split(".")
    assert len(signature) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = signature[:-1] + alphabet[alphabet.index(signature[-1]) ^ 1]
    assert base64.urlsafe_b64decode(respelled + "==") == base64.urlsafe_b64decode(signature + "==")
    with pytest.raises(MalformedToken):
        check(f"{header}.{payload}.{respelled}", typ="at+jwt")


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def spelled_by_the_rules(segment: str) -> bytes | None:
    """RFC 7515 §2 / RFC 4648 §5 and §3.5 written out: base64url characters only, no padding, a
    length that can hold whole bytes, and zero spare bits in the last character. None: refused."""
    if len(segment) % 4 == 1 or not set(_ALPHABET).issuperset(segment):
        return None
    spare_bits = {0: 0, 2: 0b1111, 3: 0b11}[len(segment) % 4]
    if spare_bits and _ALPHABET.index(segment[-1]) & spare_bits:
        return None
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decoded(segment: str) -> bytes | None:
    try:
        return _b64decode(segment, "segment")
    except MalformedToken:
        return None


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
        # A real encoding with a character from outside the alphabet put in.
        st.tuples(st.binary(min_size=3, max_size=70).map(b64), st.text("+/= !*\n", min_size=1)).map(
            lambda pair: pair[0][:2] + pair[1] + pair[0][2:]
        ),
    )
)
@example("")
@example("QQ")  # canonical "A"
@example("QR")  # "A" with a spare bit set
@example("QQ==")
@example("Q-_A")
@example("Q+/A")
@example("Q!!!!Q")  # a lenient decoder skips the four and reads "QQ"
def test_a_segment_is_accepted_only_in_its_one_canonical_spelling(segment: str) -> None:
    result = decoded(segment)
    assert result == spelled_by_the_rules(segment)
    if result is not None:  # exactly one spelling: what is accepted re-encodes to itself
        assert b64(result) == segment


@pytest.mark.parametrize(
    ("payload", "is_json_object"),
    [
        ('{"a":1}', True),
        (' {"a":1}\n', True),  # RFC 8259 §2: whitespace around the value is allowed
        ('{"a":1,"a":2}', False),
        ('{"a":1,"\\u0061":2}', False),  # the same name, escaped
        ('{"a" :1, "a":2}', False),
        ('{"x":{"a":1,"a":2}}', False),  # nested
        ('{"x":[{"a":1},{"b":1,"b":2}]}', False),  # inside an array
        ('{"a":1} x', False),
        ('{"a":NaN}', False),
        ('{"a":-Infinity}', False),
        ("[]", False),
        ("", False),
    ],
)
def test_members_are_read_strictly(payload: str, is_json_object: bool) -> None:
    token = f"{segment(header())}.{b64(payload.encode())}.AAAA"
    if is_json_object:
        assert dict(read_unverified(token)[1]) == {"a": 1}
    else:
        with pytest.raises(MalformedToken) as caught:
            read_unverified(token)
        assert caught.value.internal in ("payload is not JSON", "payload is not a JSON object")


class _OneKey:
    def __init__(self, key: VerificationKey) -> None:
        self._key = key

    def find(self, kid: str) -> VerificationKey | None:
        return self._key if kid == self._key.kid else None


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        pytest.param("ES384", ECKey.import_key(EC_PRIVATE), id="p256-key-bound-to-es384"),
        pytest.param("ES256", ECKey.import_key(EC_PRIVATE, {"use": "enc"}), id="encryption-key"),
        pytest.param("ES256", ECKey.import_key(EC_PRIVATE, {"alg": "ES384"}), id="jwk-says-es384"),
        pytest.param(
            "ES256", ECKey.import_key(EC_PRIVATE, {"key_ops": ["sign"]}), id="no-verify-op"
        ),
    ],
)
def test_a_key_that_does_not_fit_its_algorithm_verifies_nothing(alg: str, key: Key) -> None:
    """joserfc's key checks run once, when the VerificationKey is made: every token naming
    such a key is refused, even one its private key signed."""
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
