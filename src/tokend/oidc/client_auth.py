"""Client authentication at every endpoint that authenticates clients: token, introspection,
revocation, pushed authorization requests (RFC 6749 §2.3): ``client_secret_basic``,
``client_secret_post``, ``none`` (public clients, by client_id), and JWT assertions
(RFC 7523 §2.2, OIDC Core §9): ``private_key_jwt`` and ``client_secret_jwt``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from tokend.cache.base import Cache
from tokend.cache.once import first_use
from tokend.core.clock import Clock
from tokend.core.crypto import DecryptionFailed, FieldCipher, SecretHasher
from tokend.core.errors import InvalidClient, InvalidRequest, InvalidToken
from tokend.core.forms import form_decoded
from tokend.core.jwt import KeySource, SharedSecret, read_unverified, verify
from tokend.oidc.client_keys import ClientKeys
from tokend.oidc.client_metadata import ASSERTION_ALGORITHMS, SECRET_ASSERTION_ALGORITHMS
from tokend.oidc.fapi import FAPI_ALGORITHMS
from tokend.oidc.records import JWT_BEARER_ASSERTION, AuthMethod, Client
from tokend.oidc.stores import ClientStore

PRIVATE_KEY_JWT: Final = AuthMethod.PRIVATE_KEY_JWT
#: The methods that present a JWT instead of a secret.
ASSERTION_METHODS: Final = frozenset({AuthMethod.PRIVATE_KEY_JWT, AuthMethod.CLIENT_SECRET_JWT})


@dataclass(frozen=True, slots=True)
class _Presented:
    client_id: str
    secret: str | None = field(repr=False)
    method: AuthMethod | None
    #: RFC 7523 §2.2 client_assertion; ``method`` is then the client's (one of two).
    assertion: str | None = field(default=None, repr=False)


def _from_basic(authorization: str) -> _Presented | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return _Presented(
        form_decoded(raw_id), form_decoded(raw_secret), AuthMethod.CLIENT_SECRET_BASIC
    )


def _from_assertion(form: Mapping[str, str]) -> _Presented | None:
    assertion_type = form.get("client_assertion_type")
    assertion = form.get("client_assertion")
    if assertion_type is None and assertion is None:
        return None
    # RFC 7523 §2.2: the type is jwt-bearer and the assertion is one JWT.
    if assertion_type != JWT_BEARER_ASSERTION:
        raise InvalidClient("client_assertion_type must be " + JWT_BEARER_ASSERTION)
    if not assertion:
        raise InvalidClient("client_assertion is required with client_assertion_type")
    if form.get("client_secret") is not None:
        raise InvalidRequest("use one client authentication method, not two")
    try:
        _header, payload = read_unverified(assertion)
    except InvalidToken:
        raise InvalidClient("client_assertion is not a well-formed JWT") from None
    issuer, subject = payload.get("iss"), payload.get("sub")
    # RFC 7523 §3 items 1-2: iss and sub are both the client_id.
    if not isinstance(subject, str) or not subject or issuer != subject:
        raise InvalidClient("client_assertion iss and sub must both be the client_id")
    form_id = form.get("client_id")
    if form_id is not None and form_id != subject:
        raise InvalidClient("client_id does not match the client_assertion")
    return _Presented(subject, None, None, assertion)


def presented_credentials(authorization: str, form: Mapping[str, str]) -> _Presented:
    basic = _from_basic(authorization) if authorization else None
    assertion = _from_assertion(form)
    form_id, form_secret = form.get("client_id") or None, form.get("client_secret") or None
    if basic is not None:
        # RFC 6749 §2.3: a client must not use more than one authentication method.
        if form_secret is not None or assertion is not None:
            raise InvalidRequest("use one client authentication method, not two")
        if form_id is not None and form_id != basic.client_id:
            raise InvalidRequest("client_id does not match the Basic credentials")
        return basic
    if assertion is not None:
        return assertion
    if form_id is None:
        raise InvalidClient("client authentication is required")
    if form_secret is not None:
        return _Presented(form_id, form_secret, AuthMethod.CLIENT_SECRET_POST)
    return _Presented(form_id, None, AuthMethod.NONE)


@dataclass(frozen=True, slots=True)
class ClientAssertions:
    """Checks RFC 7523 client assertions: signature by the client's keys (or secret), ``aud``,
    a bounded ``exp``, and a ``jti`` used once across replicas (the shared cache)."""

    keys: ClientKeys
    cache: Cache
    cipher: FieldCipher = field(repr=False)
    clock: Clock
    #: RFC 7523 §3 item 3 / RFC 7523bis: the issuer identifier; the token endpoint URL (which
    #: RFC 7523 §3 and OIDC Core §9 name) and the PAR endpoint URL (RFC 9126 §2) are accepted
    #: too. All name this server alone, so no assertion made for another audience passes.
    audiences: frozenset[str]
    #: How far in the future ``exp`` may be: an assertion is for one request, not a session.
    max_lifetime_s: int
    leeway_s: int

    async def check(self, client: Client, assertion: str, *, fapi: bool = False) -> None:
        keys: KeySource | SharedSecret
        if client.auth_method is AuthMethod.CLIENT_SECRET_JWT:
            keys, algorithms = self._secret(client), SECRET_ASSERTION_ALGORITHMS
        else:
            header, _payload = read_unverified(assertion)
            kid = header.get("kid")
            keys = await self.keys.for_client(client, kid if isinstance(kid, str) else None)
            algorithms = ASSERTION_ALGORITHMS
        if client.token_endpoint_auth_signing_alg is not None:
            algorithms = algorithms & {client.token_endpoint_auth_signing_alg}
        if fapi:
            algorithms = algorithms & FAPI_ALGORITHMS  # FAPI 2.0 SP §5.4.1-1
        try:
            claims = verify(
                assertion,
                keys,
                algorithms=algorithms,
                issuer=client.client_id,
                audience=self.audiences,
                typ=None,
                leeway_s=self.leeway_s,
                clock=self.clock,
                required_claims=("iss", "sub", "aud", "exp", "jti"),
            )
        except InvalidToken as exc:
            raise InvalidClient(
                f"client_assertion: {exc.description}", internal=exc.internal
            ) from None
        now = self.clock.timestamp()
        exp = claims.expires_at
        if exp is None or exp.timestamp() - now > self.max_lifetime_s + self.leeway_s:
            raise InvalidClient(f"client_assertion exp is more than {self.max_lifetime_s} s away")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidClient("client_assertion jti must be a string")
        # RFC 7523 §3 item 7: a jti used before is refused until the assertion expires.
        ttl_s = exp.timestamp() - now + self.leeway_s
        if not await first_use(self.cache, f"client-assertion:{client.client_id}", jti, ttl_s):
            raise InvalidClient("client_assertion was used before (jti)")

    def _secret(self, client: Client) -> SharedSecret:
        if client.secret_enc is None:
            raise InvalidClient(internal="client_secret_jwt without a kept secret: rotate it")
        try:
            secret = self.cipher.decrypt_text(client.secret_enc, aad=client.client_id)
        except DecryptionFailed:
            raise InvalidClient(internal="client secret cannot be decrypted") from None
        return SharedSecret(secret.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ClientAuthenticator:
    #: The cached clients on the hot paths (``client_cache.CachedClients``).
    clients: ClientStore
    hasher: SecretHasher
    #: None: JWT assertions are not accepted (no keys block wired).
    assertions: ClientAssertions | None = None
    #: The FAPI 2.0 profile for every client (``oidc.fapi2``).
    fapi2: bool = False

    async def authenticate(self, authorization: str, form: Mapping[str, str]) -> Client:
        """The client the request authenticates as; InvalidClient (401) otherwise."""
        presented = presented_credentials(authorization, form)
        client = await self.clients.get(presented.client_id)
        if client is None:
            raise InvalidClient(internal="unknown client_id")
        fapi = self.fapi2 or client.fapi2_profile
        if fapi and (presented.assertion is None or client.auth_method is not PRIVATE_KEY_JWT):
            # FAPI 2.0 SP §5.3.2.1-4: private_key_jwt only.
            raise InvalidClient("the FAPI 2.0 profile requires private_key_jwt")
        if presented.assertion is not None:
            if client.auth_method not in ASSERTION_METHODS or self.assertions is None:
                raise InvalidClient(
                    internal=f"client registered for {client.auth_method}, used an assertion"
                )
            await self.assertions.check(client, presented.assertion, fapi=fapi)
            return client
        if presented.method is not client.auth_method:
            raise InvalidClient(
                internal=f"client registered for {client.auth_method}, used {presented.method}"
            )
        if presented.method is AuthMethod.NONE:
            return client
        if (
            presented.secret is None
            or client.secret_hash is None
            or not self.hasher.verify(presented.secret, client.secret_hash)
        ):
            raise InvalidClient(internal="wrong client secret")
        return client
