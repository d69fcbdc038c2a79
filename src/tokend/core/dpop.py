"""DPoP proofs (RFC 9449): a JWT the client signs with its own key for each request, proving
possession of the key a token is bound to (``cnf.jkt``, the key's RFC 7638 thumbprint).

Checked as §4.3 lists: one proof, typ ``dpop+jwt``, an asymmetric alg of the allow-list, a
public ``jwk`` header whose key verifies the signature (through ``core.jwt``), ``htm`` and
``htu`` naming this request, ``iat`` within the window, ``jti`` never seen before (the caller's
:class:`ReplayCache`, shared across replicas), the server ``nonce`` when one is required (§8),
and ``ath`` for a request carrying an access token (§4.3 step 10). The provider and the guard
both call :func:`verify_proof`; each keeps its own replay cache.

Server nonces are stateless: ``HMAC(secret, window)`` for the current time window, so every
replica with the same secret issues and accepts the same ones; the previous window's is still
accepted, and a new one is issued each window (rotated).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol
from urllib.parse import urlsplit

from joserfc.jwk import JWKRegistry

from tokend.core.clock import Clock
from tokend.core.errors import InvalidToken, OAuthError
from tokend.core.jws_keys import VerificationKey
from tokend.core.jwt import read_unverified, verification_key_from_jwk, verify

#: RFC 9449 §5.1: the algorithms advertised (``dpop_signing_alg_values_supported``).
DPOP_ALGORITHMS: Final = frozenset(
    {"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}
)
DPOP_TYP: Final = "dpop+jwt"
MAX_PROOF_LENGTH: Final = 8192
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Proof keys kept imported: a client signs every proof with the same key (RFC 9449 §4.1), and
#: importing it (and taking its thumbprint) was about a sixth of a DPoP request's time.
PROOF_KEYS_KEPT: Final = 1024


class InvalidDpopProof(OAuthError):
    """RFC 9449 §5 / §7.1."""

    code = "invalid_dpop_proof"
    default_description = "The DPoP proof is not valid."


class UseDpopNonce(OAuthError):
    """RFC 9449 §8: the client must retry with the nonce in the ``DPoP-Nonce`` header."""

    code = "use_dpop_nonce"
    default_description = "A DPoP nonce is required; retry with the one given."


def challenge(error: OAuthError, algorithms: frozenset[str] = DPOP_ALGORITHMS) -> dict[str, str]:
    """RFC 9449 §7.1: the ``WWW-Authenticate: DPoP`` challenge of a resource's 401."""
    description = error.description.replace("\\", "\\\\").replace('"', "'")
    return {
        "WWW-Authenticate": f'DPoP algs="{" ".join(sorted(algorithms))}", '
        f'error="{error.code}", error_description="{description}"'
    }


class _ResourceDpopProof(InvalidDpopProof):
    status = 401


class _ResourceDpopNonce(UseDpopNonce):
    status = 401


def at_resource(error: OAuthError) -> OAuthError:
    """``error`` as a resource endpoint answers it (RFC 9449 §7.1, §9): a 401 with a
    ``WWW-Authenticate: DPoP`` challenge (and the nonce header, if any)."""
    kind: type[OAuthError] = InvalidToken
    if isinstance(error, UseDpopNonce):
        kind = _ResourceDpopNonce
    elif isinstance(error, InvalidDpopProof):
        kind = _ResourceDpopProof
    return kind(
        error.description,
        internal=error.internal,
        headers={**challenge(error), **error.headers},
    )


class ReplayCache(Protocol):
    async def first_use(self, jti: str, ttl_s: float) -> bool:
        """True the first time ``jti`` is seen; False while it is remembered."""
        ...


@dataclass(frozen=True, slots=True)
class DpopProof:
    #: RFC 7638 thumbprint of the proof's key: what ``cnf.jkt`` binds a token to.
    jkt: str
    jti: str


def thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK (base64url)."""
    key = JWKRegistry.import_key(dict(jwk))  # type: ignore[arg-type]
    return str(key.thumbprint())


@functools.lru_cache(maxsize=PROOF_KEYS_KEPT)
def _proof_key(jwk_json: str, alg: str) -> tuple[str, VerificationKey]:
    """A proof's public key (its JSON, canonical) imported for ``alg``, with its thumbprint;
    least recently used first out, so a flood of one-off keys only costs their own imports."""
    jwk = json.loads(jwk_json)
    jkt = thumbprint(jwk)
    return jkt, verification_key_from_jwk({**jwk, "kid": jkt, "alg": alg, "use": "sig"})


def access_token_hash(token: str) -> str:
    """RFC 9449 §4.2 ``ath``: base64url(SHA-256(ASCII of the access token))."""
    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalized_url(url: str) -> str:
    """RFC 9449 §4.3 step 9: htu compared without query and fragment, with the scheme and host
    lower-cased and the default port dropped (RFC 3986 §6.2.2-6.2.3)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = host if port is None or port == default else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None or port == default else f"[{host}]:{port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


@dataclass(frozen=True, slots=True)
class DpopNonces:
    """Stateless server nonces (RFC 9449 §8, §9): valid this window and the previous one."""

    secret: bytes = field(repr=False)
    clock: Clock
    window_s: int = 300
    #: Domain separation: the provider's and a resource server's nonces differ even under one
    #: secret (RFC 9449 §9: a resource server's nonce is its own).
    purpose: str = "dpop-nonce"

    def current(self) -> str:
        return self._for(int(self.clock.timestamp()) // self.window_s)

    def is_valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str):
            return False
        window = int(self.clock.timestamp()) // self.window_s
        return any(hmac.compare_digest(nonce, self._for(w)) for w in (window, window - 1))

    def _for(self, window: int) -> str:
        mac = hmac.digest(self.secret, f"{self.purpose}:{window}".encode(), "sha256")
        return base64.urlsafe_b64encode(mac[:18]).decode("ascii")


async def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    clock: Clock,
    replay: ReplayCache,
    max_age_s: int = 60,
    leeway_s: int = 5,
    access_token: str | None = None,
    nonces: DpopNonces | None = None,
    algorithms: frozenset[str] = DPOP_ALGORITHMS,
) -> DpopProof:
    """The checked proof of this request; InvalidDpopProof or UseDpopNonce otherwise."""
    if not proof or len(proof) > MAX_PROOF_LENGTH:
        raise InvalidDpopProof("a DPoP proof is required" if not proof else "proof too long")
    try:
        header, _payload = read_unverified(proof)
    except InvalidToken:
        raise InvalidDpopProof("the DPoP proof is not a well-formed JWT") from None
    alg, jwk = header.get("alg"), header.get("jwk")
    if header.get("typ") != DPOP_TYP:
        raise InvalidDpopProof("the DPoP proof's typ must be dpop+jwt")
    if not isinstance(alg, str) or alg not in DPOP_ALGORITHMS & algorithms:
        raise InvalidDpopProof("the DPoP proof's alg is not accepted")
    if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDpopProof("the DPoP proof's jwk must be a public key")
    try:
        jkt, key = _proof_key(json.dumps(jwk, sort_keys=True, separators=(",", ":")), alg)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidDpopProof("the DPoP proof's jwk is not usable", internal=str(exc)) from None
    except Exception as exc:
        raise InvalidDpopProof("the DPoP proof's jwk is not usable", internal=str(exc)) from None
    try:
        claims = verify(
            proof,
            key,
            algorithms=frozenset({alg}),
            issuer=None,
            audience=None,
            typ=DPOP_TYP,
            leeway_s=leeway_s,
            clock=clock,
            required_claims=("jti", "htm", "htu", "iat"),
            embedded_jwk=True,
        )
    except InvalidToken as exc:
        raise InvalidDpopProof(f"DPoP proof: {exc.description}", internal=exc.internal) from None
    payload = claims.payload
    jti, htm, htu, iat = (payload.get(n) for n in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidDpopProof("the DPoP proof's jti must be a string")
    if htm != method:
        raise InvalidDpopProof("the DPoP proof's htm is not this request's method")
    if not isinstance(htu, str) or normalized_url(htu) != normalized_url(url):
        raise InvalidDpopProof("the DPoP proof's htu is not this request's URL")
    now = clock.timestamp()
    if not isinstance(iat, int | float) or now - iat > max_age_s + leeway_s:
        raise InvalidDpopProof("the DPoP proof is too old (iat)")
    if nonces is not None and not nonces.is_valid(payload.get("nonce")):
        raise UseDpopNonce(headers={"DPoP-Nonce": nonces.current()})
    if access_token is not None and payload.get("ath") != access_token_hash(access_token):
        raise InvalidDpopProof("the DPoP proof's ath does not match the access token")
    if not await replay.first_use(f"{jkt}:{jti}", max_age_s + 2 * leeway_s):
        raise InvalidDpopProof("the DPoP proof was used before (jti)")
    return DpopProof(jkt, jti)
