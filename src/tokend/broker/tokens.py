"""The broker token: a JWT signed by tokend's keyring, bounded by the operator token's life."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from joserfc.jwk import OctKey

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.errors import UpstreamFailed
from tokend.broker.settings import BrokerSettings
from tokend.broker.upstream import OperatorToken
from tokend.core.crypto import sha256_b64url
from tokend.core.jwt import SigningKey, mint

HS256_KID = "broker-hs256"
#: RFC 8725 §3.11 explicit typing: a broker token is no access token (RFC 9068 ``at+jwt``), no
#: ID token and no operator token, although the same keyring signs them all with one issuer.
BROKER_TOKEN_TYP = "broker+jwt"  # noqa: S105  (a media type)


@dataclass(frozen=True, slots=True)
class BrokerToken:
    access_token: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime


def auth_code_claim(auth_code: str) -> str:
    """``auth_code_hash``: base64url SHA-256 of the code, like OIDC Core §3.3.2.11 ``c_hash``
    but over the whole digest, so the one-time code itself never sits in a token."""
    return sha256_b64url(auth_code)


class BrokerTokenMinter:
    def __init__(
        self,
        settings: BrokerSettings,
        issuer: str,
        audience: str,
        keyring_key: Callable[[str], SigningKey],
    ) -> None:
        self._settings = settings
        self._issuer = issuer
        self._audience = audience
        self._keyring_key = keyring_key
        self._hs256 = (
            SigningKey(HS256_KID, "HS256", OctKey.import_key(settings.hs256_key.get_secret_value()))
            if settings.token_alg == "HS256" and settings.hs256_key is not None  # noqa: S105
            else None
        )

    def mint(
        self,
        *,
        entry: TelcoEntry,
        mcc: str,
        sn: str,
        auth_code: str,
        operator_token: OperatorToken,
        now: datetime,
    ) -> BrokerToken:
        issued_at = now.replace(microsecond=0)
        expires_at = min(
            issued_at + timedelta(seconds=self._settings.token_ttl_s),
            operator_token.expires_at.replace(microsecond=0),
        )
        if expires_at <= issued_at:
            raise UpstreamFailed(
                f"Telco service error: {entry.operator_id} returned an expired token"
            )
        claims: dict[str, object] = {
            "iss": self._issuer,
            "sub": f"tel:+{mcc}{sn}",
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_urlsafe(16),
            "mcc": mcc,
            "sn": sn,
            "operator": entry.operator_id,
            "auth_code_hash": auth_code_claim(auth_code),
        }
        if self._hs256 is None:
            # Its own audience (RFC 7519 §4.1.3): a verifier of tokend's other keyring tokens
            # that checks aud refuses it, as one that checks typ does. The HS256 seed mode
            # leaves it out: the seed's clients decode without expecting an audience (PyJWT's
            # defaults then refuse any aud), and its shared key is no key of the keyring.
            claims["aud"] = self._audience
        if self._settings.embed_auth_code:
            claims["auth_code"] = auth_code  # seed 000 compat: its broker token carries the code
        token = mint(claims, self._signing_key(), typ=BROKER_TOKEN_TYP)
        return BrokerToken(token, issued_at, expires_at)

    def _signing_key(self) -> SigningKey:
        if self._hs256 is not None:
            return self._hs256
        return self._keyring_key(self._settings.token_alg)
