"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3):
``client_secret_basic``, ``client_secret_post`` and ``none`` (public clients, by client_id)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from tokend.core.crypto import SecretHasher
from tokend.core.errors import InvalidClient, InvalidRequest
from tokend.oidc.records import AuthMethod, Client
from tokend.oidc.stores import ClientStore


@dataclass(frozen=True, slots=True)
class _Presented:
    client_id: str
    secret: str | None
    method: AuthMethod


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
        unquote_plus(raw_id), unquote_plus(raw_secret), AuthMethod.CLIENT_SECRET_BASIC
    )


def presented_credentials(authorization: str, form: Mapping[str, str]) -> _Presented:
    basic = _from_basic(authorization) if authorization else None
    form_id, form_secret = form.get("client_id") or None, form.get("client_secret") or None
    if basic is not None:
        # RFC 6749 §2.3: a client must not use more than one authentication method.
        if form_secret is not None:
            raise InvalidRequest("use one client authentication method, not two")
        if form_id is not None and form_id != basic.client_id:
            raise InvalidRequest("client_id does not match the Basic credentials")
        return basic
    if form_id is None:
        raise InvalidClient("client authentication is required")
    if form_secret is not None:
        return _Presented(form_id, form_secret, AuthMethod.CLIENT_SECRET_POST)
    return _Presented(form_id, None, AuthMethod.NONE)


@dataclass(frozen=True, slots=True)
class ClientAuthenticator:
    #: The cached clients on the hot paths (``client_cache.CachedClients``).
    clients: ClientStore
    hasher: SecretHasher

    async def authenticate(self, authorization: str, form: Mapping[str, str]) -> Client:
        """The client the request authenticates as; InvalidClient (401) otherwise."""
        presented = presented_credentials(authorization, form)
        client = await self.clients.get(presented.client_id)
        if client is None:
            raise InvalidClient(internal="unknown client_id")
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
