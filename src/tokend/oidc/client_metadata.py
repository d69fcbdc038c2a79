"""The rules of the client metadata that authenticate a client with keys (RFC 7523 §2.2,
OIDC Core §9, OIDC Dynamic Client Registration §2): ``jwks``, ``jwks_uri`` and
``token_endpoint_auth_signing_alg``. The admin API's ``ClientCreate`` and any other way of
registering a client call these, so every client is held to the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from tokend.core.jwt import VerificationKey, verification_key_from_jwk
from tokend.oidc.records import AuthMethod

#: Algorithms accepted for private_key_jwt assertions (RFC 7518 §3; FAPI 2.0 §5.4 narrows to
#: PS256/ES256/EdDSA). HMAC is only for client_secret_jwt.
ASSERTION_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
SECRET_ASSERTION_ALGORITHMS: Final = frozenset({"HS256"})
MAX_JWKS_KEYS: Final = 20
MAX_JWKS_BYTES: Final = 64 * 1024
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwk_set(document: object) -> dict[str, VerificationKey]:
    """The usable signature keys of a JWK Set (RFC 7517 §5) by kid; unusable ones skipped.
    Raises ValueError when the document is not a JWK Set."""
    members = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(members, list):
        raise ValueError("a JWK Set is an object with a keys array")
    keys: dict[str, VerificationKey] = {}
    for jwk in members[:MAX_JWKS_KEYS]:
        if isinstance(jwk, Mapping):
            try:
                key = verification_key_from_jwk(jwk)
            except ValueError:
                continue
            keys[key.kid] = key
    return keys


def check_client_jwks(value: Mapping[str, object]) -> None:
    """A client's registered JWK Set: public keys only, at least one usable, bounded."""
    if len(json.dumps(value)) > MAX_JWKS_BYTES:
        raise ValueError("jwks is too large")
    members = value.get("keys")
    if not isinstance(members, list) or len(members) > MAX_JWKS_KEYS:
        raise ValueError(f"jwks must have a keys array of at most {MAX_JWKS_KEYS} keys")
    for jwk in members:
        if isinstance(jwk, Mapping) and _PRIVATE_MEMBERS & jwk.keys():
            # A private or symmetric key in a public registration is a leaked key.
            raise ValueError("jwks must hold public keys only")
    if not jwk_set(value):
        raise ValueError("jwks has no usable signature key (each needs a kid)")


def check_key_metadata(
    method: AuthMethod,
    jwks: Mapping[str, object] | None,
    jwks_uri: str | None,
    signing_alg: str | None,
) -> None:
    """The key metadata fits the client's token endpoint auth method; ValueError otherwise."""
    if jwks is not None and jwks_uri is not None:
        # OIDC Dynamic Client Registration §2: jwks and jwks_uri must not both be present.
        raise ValueError("give jwks or jwks_uri, not both")
    if method is AuthMethod.PRIVATE_KEY_JWT and jwks is None and jwks_uri is None:
        raise ValueError("private_key_jwt needs the client's keys: jwks or jwks_uri")
    if signing_alg is not None:
        allowed = (
            SECRET_ASSERTION_ALGORITHMS
            if method is AuthMethod.CLIENT_SECRET_JWT
            else ASSERTION_ALGORITHMS
        )
        if method not in (AuthMethod.PRIVATE_KEY_JWT, AuthMethod.CLIENT_SECRET_JWT):
            raise ValueError("token_endpoint_auth_signing_alg is for *_jwt auth methods")
        if signing_alg not in allowed:
            raise ValueError(f"token_endpoint_auth_signing_alg must be one of {sorted(allowed)}")


def check_request_object_metadata(
    require_signed: bool, signing_alg: str | None, *, has_keys: bool
) -> None:
    """Request object metadata (RFC 9101 §10.5, OIDC Registration §2); ValueError otherwise."""
    if signing_alg is not None and signing_alg not in ASSERTION_ALGORITHMS:
        raise ValueError(
            f"request_object_signing_alg must be one of {sorted(ASSERTION_ALGORITHMS)}"
        )
    if require_signed and not has_keys:
        raise ValueError("require_signed_request_object needs the client's keys (jwks or jwks_uri)")
