"""Request objects (JAR, RFC 9101): an authorization request passed as a JWT signed by the
client (``request``, by value; inside a pushed request too), verified with the client's keys
(``client_keys``) by the one JWS implementation (``core.jwt``).

Only the object's parameters count (§5: the query's other parameters are ignored); its
``client_id`` must be the query's. ``aud`` must be this issuer (§4), ``exp`` is required and
at most an hour ahead, ``nbf`` at most an hour old (FAPI 2.0 Message Signing §5.3.1), and a
``jti`` is used once across replicas (the shared cache).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from tokend.cache.base import Cache
from tokend.cache.once import first_use
from tokend.core.clock import Clock
from tokend.core.errors import InvalidClient, InvalidToken, OAuthError
from tokend.core.forms import Params
from tokend.core.jwt import read_unverified, verify
from tokend.oidc.client_keys import ClientKeys
from tokend.oidc.client_metadata import ASSERTION_ALGORITHMS
from tokend.oidc.fapi import FAPI_ALGORITHMS
from tokend.oidc.records import Client

#: FAPI 2.0 Message Signing §5.3.1: exp at most 60 minutes after nbf, nbf at most 60 minutes
#: in the past.
MAX_LIFETIME_S: Final = 3600
MAX_REQUEST_OBJECT_LENGTH: Final = 16_384
#: Claims of the JWT itself, not authorization request parameters.
_JWT_CLAIMS: Final = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})


class InvalidRequestObject(OAuthError):
    """RFC 9101 §6.2 / OIDC Core §3.1.2.6."""

    code = "invalid_request_object"
    default_description = "The request object is not valid."


@dataclass(frozen=True, slots=True)
class RequestObjects:
    keys: ClientKeys
    cache: Cache
    clock: Clock
    issuer: str
    leeway_s: int
    fapi2: bool = False

    async def parameters(self, client: Client, request: str) -> Params:
        """The authorization request the signed ``request`` carries; InvalidRequestObject."""
        if len(request) > MAX_REQUEST_OBJECT_LENGTH:
            raise InvalidRequestObject("the request object is too large")
        try:
            header, _payload = read_unverified(request)
        except InvalidToken:
            raise InvalidRequestObject("the request object is not a well-formed JWT") from None
        kid = header.get("kid")
        try:
            key_set = await self.keys.for_client(client, kid if isinstance(kid, str) else None)
        except InvalidClient as exc:
            raise InvalidRequestObject(
                f"request object: {exc.description}", internal=exc.internal
            ) from None
        algorithms = ASSERTION_ALGORITHMS
        if client.request_object_signing_alg is not None:
            algorithms = algorithms & {client.request_object_signing_alg}
        if self.fapi2 or client.fapi2_profile:
            algorithms = algorithms & FAPI_ALGORITHMS  # FAPI 2.0 SP §5.4.1-1
        try:
            claims = verify(
                request,
                key_set,
                algorithms=algorithms,
                issuer=client.client_id,
                audience=self.issuer,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("iss", "aud", "exp"),
            )
        except InvalidToken as exc:
            raise InvalidRequestObject(
                f"request object: {exc.description}", internal=exc.internal
            ) from None
        payload = claims.payload
        now = self.clock.timestamp()
        exp = claims.expires_at
        if exp is None or exp.timestamp() - now > MAX_LIFETIME_S + self.leeway_s:
            raise InvalidRequestObject("the request object's exp is too far in the future")
        nbf = payload.get("nbf")
        if isinstance(nbf, int | float) and now - nbf > MAX_LIFETIME_S + self.leeway_s:
            raise InvalidRequestObject("the request object's nbf is too old")
        # RFC 9101 §5: the client_id inside must be the client's.
        if payload.get("client_id", client.client_id) != client.client_id:
            raise InvalidRequestObject("client_id in the request object does not match")
        jti = payload.get("jti")
        if jti is not None:
            if not isinstance(jti, str) or not jti or len(jti) > 256:
                raise InvalidRequestObject("the request object's jti must be a string")
            ttl_s = exp.timestamp() - now + self.leeway_s
            if not await first_use(self.cache, f"request-object:{client.client_id}", jti, ttl_s):
                raise InvalidRequestObject("the request object was used before (jti)")
        single: dict[str, str] = {"client_id": client.client_id}
        for name, value in payload.items():
            if name in _JWT_CLAIMS or name == "client_id":
                continue
            if name in ("request", "request_uri"):
                raise InvalidRequestObject(f"a request object must not carry {name}")
            if isinstance(value, str):
                single[name] = value
            elif isinstance(value, bool):
                raise InvalidRequestObject(f"{name[:40]} must not be a boolean")
            elif isinstance(value, int):
                single[name] = str(value)  # max_age (OIDC Core §6.1)
            elif isinstance(value, dict):
                single[name] = json.dumps(value)  # claims (OIDC Core §5.5)
            else:
                raise InvalidRequestObject(f"{name[:40]} has an unsupported type")
        return Params(single, {})
