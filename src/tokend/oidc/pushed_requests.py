"""Pushed authorization requests (RFC 9126): the client posts its authorization request,
authenticated as at the token endpoint, and gets a ``request_uri`` to send the browser with.

The pushed parameters are validated as ``/authorize`` validates them (errors answer the
client directly, §2.3) and kept in the shared cache (Redis when configured, so any replica
finds them) for ``par_ttl_s`` ≤ 60 s. Each ``request_uri`` is used once (§4): the first
``/authorize`` claims it on every replica (``cache.once``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokend.cache.base import Cache
from tokend.cache.codec import get_json, set_json
from tokend.cache.once import first_use
from tokend.core.crypto import random_secret
from tokend.core.errors import InvalidRequest
from tokend.core.forms import Params
from tokend.oidc.authorization import (
    AuthorizationPageError,
    RedirectableError,
    redirect_uri_of,
    validate,
)
from tokend.oidc.records import Client
from tokend.oidc.request_objects import RequestObjects
from tokend.oidc.settings import OidcSettings

#: RFC 9126 §2.2: the request_uri is a URN of this form.
REQUEST_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
_MAX_REF = 64


@dataclass(frozen=True, slots=True)
class Pushed:
    request_uri: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class PushedRequest:
    params: Params
    #: The parameters came in a verified request object (RFC 9101).
    signed: bool


def _key(ref: str) -> str:
    return f"oidc:par:{ref}"


@dataclass(frozen=True, slots=True)
class PushedRequests:
    cache: Cache
    settings: OidcSettings
    request_objects: RequestObjects

    async def push(self, client: Client, params: Params) -> Pushed:
        """Validate and keep ``params`` for ``client`` (authenticated); raises OAuthError."""
        # RFC 9126 §2.1: request_uri must not be pushed.
        if params.get("request_uri") is not None:
            raise InvalidRequest("request_uri must not be pushed")
        if params.get("client_id") not in (None, client.client_id):
            raise InvalidRequest("client_id does not match the authenticated client")
        request = params.get("request")
        signed = request is not None
        if request is not None:
            # RFC 9126 §3: a pushed request may be a request object (RFC 9101).
            params = await self.request_objects.parameters(client, request)
        single = {**params.single, "client_id": client.client_id}
        pushed = Params(single, {})
        try:
            _client, redirect_uri = redirect_uri_of(client, pushed)
            validate(client, redirect_uri, pushed, self.settings, pushed=True, signed=signed)
        except AuthorizationPageError as exc:
            raise InvalidRequest(exc.message) from None
        except RedirectableError as exc:
            raise exc.error from None
        ref = random_secret(32)
        ttl_s = self.settings.par_ttl_s
        await set_json(
            self.cache,
            _key(ref),
            {"client_id": client.client_id, "params": single, "signed": signed},
            ttl_s,
        )
        return Pushed(REQUEST_URI_PREFIX + ref, ttl_s)

    async def take(self, request_uri: str, client_id: str | None) -> PushedRequest | None:
        """The pushed request ``request_uri`` names, once, for ``client_id``; None when it is
        unknown, expired, used or another client's."""
        ref = request_uri.removeprefix(REQUEST_URI_PREFIX)
        if ref == request_uri or not ref or len(ref) > _MAX_REF or client_id is None:
            return None
        data = await get_json(self.cache, _key(ref))
        if not isinstance(data, dict) or data.get("client_id") != client_id:
            return None
        stored = data.get("params")
        if not isinstance(stored, dict):
            return None
        # RFC 9126 §4: one use; the first /authorize on any replica wins.
        if not await first_use(self.cache, "par", ref, self.settings.par_ttl_s):
            return None
        await self.cache.delete(_key(ref))
        params = Params({str(k): str(v) for k, v in stored.items()}, {})
        return PushedRequest(params, data.get("signed") is True)
