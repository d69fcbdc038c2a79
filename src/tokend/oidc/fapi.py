"""The FAPI 2.0 Security Profile as a switch (``oidc.fapi2`` for every client, or a client's
own ``fapi2_profile``): what it narrows, in one place. Each check cites FAPI 2.0 SP §5.3 (the
authorization server) or §5.4 (cryptography); the places that apply them call :func:`applies`.

- PAR required (§5.3.2.2-2), PKCE with S256 (§5.3.2.2-3), ``response_mode`` query or query.jwt;
- sender-constrained tokens: a DPoP proof at every token request (§5.3.2.1-5);
- client authentication by ``private_key_jwt`` only (§5.3.2.1-4; mTLS is out of scope);
- signatures PS256, ES256 or EdDSA only (§5.4.1-1): client assertions, request objects,
  DPoP proofs;
- authorization codes live at most 60 seconds (§5.3.2.1-12).
"""

from __future__ import annotations

from typing import Final

from tokend.oidc.records import Client
from tokend.oidc.settings import FAPI_ALGORITHMS, OidcSettings

FAPI_CODE_TTL_S: Final = 60

__all__ = ["FAPI_ALGORITHMS", "FAPI_CODE_TTL_S", "applies", "signing_refusal"]


def applies(client: Client, settings: OidcSettings) -> bool:
    return settings.fapi2 or client.fapi2_profile


def signing_refusal(id_token_alg: str) -> str | None:
    """Why a FAPI 2.0 client cannot be served by a provider that signs with ``id_token_alg``
    (§5.4.1-1: its ID tokens, JARM responses and JWT introspection responses are signed with
    that key), or None. ``oidc.fapi2`` is refused at start-up for the same reason (config.py)."""
    if id_token_alg in FAPI_ALGORITHMS:
        return None
    return (
        f"FAPI 2.0 (SP §5.4.1) needs PS256, ES256 or EdDSA signatures, and this provider signs "
        f"ID tokens with {id_token_alg}: set TOKEND_KEYS__ID_TOKEN_ALG=ES256 (or EdDSA) first"
    )
