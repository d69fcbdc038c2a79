"""The operator role (seed 000 telco service): authenticate the broker, check the code, issue.

Checks run in the seed's order: ``telco_auth`` JSON (400) → broker credentials (401) → auth
code (401) (CONTRACTS.md, "Telco (operator role)"). HTTP Basic is accepted as well as the
seed's ``telco_auth`` form field.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tokend.core.crypto import sha256_b64url
from tokend.core.errors import BadRequest
from tokend.core.json_input import InvalidJson, parse_json
from tokend.core.jwt import SigningKey, mint
from tokend.telco.codes import OneTimeCodes
from tokend.telco.errors import InvalidAuthCode, InvalidTelcoAuth


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    operator_id: str
    #: client_id -> client_secret of the brokers allowed to call.
    clients: Mapping[str, str] = field(repr=False)
    #: Codes accepted any number of times (the seed's examples); may be empty when the
    #: operator issues one-time codes.
    valid_codes: frozenset[str] = field(repr=False)
    token_ttl_s: int
    issuer: str


@dataclass(frozen=True, slots=True)
class IssuedOperatorToken:
    access_token: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime


def parse_telco_auth(raw: str) -> tuple[str, str]:
    """``telco_auth`` JSON ``{client_id, client_secret}``; 400/401 texts as the seed's."""
    try:
        value = parse_json(raw)
    except InvalidJson:
        raise BadRequest("Invalid telco_auth JSON format") from None
    if not isinstance(value, dict):
        raise InvalidTelcoAuth()
    client_id, secret = value.get("client_id"), value.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str):
        raise InvalidTelcoAuth()
    return client_id, secret


class TelcoOperator:
    def __init__(
        self,
        config: OperatorConfig,
        signing_key: Callable[[], SigningKey],
        one_time_codes: OneTimeCodes | None = None,
    ) -> None:
        self.config = config
        self.one_time_codes = one_time_codes
        self._signing_key = signing_key
        self._clients = {k: v.encode() for k, v in config.clients.items()}
        self._codes = tuple(code.encode() for code in config.valid_codes)

    def authenticate(self, credentials: tuple[str, str] | None) -> str:
        """The broker's client_id when its credentials match; InvalidTelcoAuth otherwise."""
        if credentials is None:
            raise InvalidTelcoAuth()
        client_id, secret = credentials
        expected = self._clients.get(client_id)
        # Compare even for an unknown client, so timing does not tell which ids exist.
        known = hmac.compare_digest(secret.encode(), expected or b"\0" * 32)
        if expected is None or not known:
            raise InvalidTelcoAuth()
        return client_id

    async def check_code(self, auth_code: str | None, mcc: str, sn: str) -> str:
        """The code when it is a configured one or a live one-time code issued to ``mcc+sn``
        (which it then uses up); InvalidAuthCode otherwise."""
        if not auth_code:
            raise InvalidAuthCode()
        presented = auth_code.encode()
        if any(hmac.compare_digest(presented, code) for code in self._codes):
            return auth_code
        if self.one_time_codes is not None and await self.one_time_codes.consume(
            auth_code, mcc, sn
        ):
            return auth_code
        raise InvalidAuthCode()

    async def token(
        self,
        credentials: tuple[str, str] | None,
        auth_code: str | None,
        *,
        mcc: str,
        sn: str,
        now: datetime,
    ) -> IssuedOperatorToken:
        """The operator token for a broker and a subscriber's code, checked in the seed's order:
        broker credentials, then the code (both 401)."""
        client_id = self.authenticate(credentials)
        code = await self.check_code(auth_code, mcc, sn)
        return self.issue(client_id=client_id, mcc=mcc, sn=sn, auth_code=code, now=now)

    def issue(
        self, *, client_id: str, mcc: str, sn: str, auth_code: str, now: datetime
    ) -> IssuedOperatorToken:
        issued_at = now.replace(microsecond=0)
        expires_at = issued_at + timedelta(seconds=self.config.token_ttl_s)
        claims = {
            "iss": self.config.issuer,
            "sub": f"tel:+{mcc}{sn}",
            "aud": client_id,
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": secrets.token_urlsafe(16),
            "operator": self.config.operator_id,
            "mcc": mcc,
            "sn": sn,
            # Seed 000's two-phase token: the broker's token carries the same claim
            # (base64url SHA-256 of the code, as OIDC Core §3.3.2.11 c_hash but the whole digest).
            "auth_code_hash": sha256_b64url(auth_code),
        }
        return IssuedOperatorToken(mint(claims, self._signing_key()), issued_at, expires_at)
