"""The one OAuth 2.0 client of tokend: token endpoint requests with client authentication
(RFC 6749 §2.3, §3.2, §4, §6), revocation (RFC 7009) and introspection (RFC 7662), over the
process's guarded HTTP client. Discovery is :mod:`tokend.core.discovery`, PKCE
:mod:`tokend.core.pkce`.

Written here rather than taken from authlib: authlib's httpx integration (``AsyncOAuth2Client``)
is an ``httpx.AsyncClient`` subclass holding one client's session and token, so it cannot be the
process's one guarded client; it raises its own error hierarchy from inside the call, so a
circuit breaker cannot tell an outage from a refusal; and it would still leave us the parts
every caller here differs on (which answer is a refusal, which an outage). What is left to write
is small: the client authentication of one form POST and reading RFC 6749 §5.1/§5.2 answers.

Errors: transport failures and refused targets escape as httpx's (``httpx.TransportError``).
An answer that is not a success raises :class:`ErrorResponse` (``is_transient`` for 5xx, 408,
425, 429); a 200 that is not a usable token response raises :class:`MalformedResponse`.
With a ``breaker``, only what shows the server down counts against it (transport errors and
5xx answers); a refusal is an answer from a healthy server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote

import httpx

from tokend.core.http import GuardedClient

if TYPE_CHECKING:  # a caller passes one; the guard's wheel ships without the breaker's metrics
    from tokend.core.breaker import CircuitBreaker

#: RFC 7591 §2 ``token_endpoint_auth_method`` values this client speaks.
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Statuses after which the same request may succeed later.
TRANSIENT_STATUSES: Final = frozenset({408, 425, 429})
MAX_DETAIL_CHARS: Final = 200
MAX_ERROR_CHARS: Final = 64


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """How the client authenticates to the server's endpoints."""

    client_id: str
    method: AuthMethod = "client_secret_basic"
    secret: str | None = field(default=None, repr=False)
    #: ``private_key_jwt``: the signed RFC 7523 §2.2 client assertion for an audience (the
    #: endpoint's URL), made fresh for each request.
    assertion: Callable[[str], str] | None = field(default=None, repr=False)

    def apply(self, url: str, form: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form of a request to ``url`` carrying this authentication."""
        body = dict(form)
        if self.method == "client_secret_basic":
            # RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
            pair = f"{quote(self.client_id, safe='')}:{quote(self.secret or '', safe='')}"
            basic = base64.b64encode(pair.encode()).decode("ascii")
            return {"Authorization": f"Basic {basic}"}, body
        body["client_id"] = self.client_id
        if self.method == "client_secret_post":
            body["client_secret"] = self.secret or ""
        elif self.method == "private_key_jwt":
            if self.assertion is None:
                raise ValueError("private_key_jwt needs an assertion")
            body["client_assertion_type"] = CLIENT_ASSERTION_TYPE
            body["client_assertion"] = self.assertion(url)
        return {}, body


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1 (and OIDC Core §3.1.3.3's ``id_token``)."""

    access_token: str = field(repr=False)
    token_type: str
    #: None: the server did not say.
    expires_in_s: int | None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    scope: str | None = None


class ErrorResponse(Exception):
    """The server answered something other than success: its status, its RFC 6749 §5.2
    ``error`` code if it gave one, and a short text of its answer (for messages; it may echo
    what was sent, so callers redact before showing it)."""

    def __init__(self, status: int, error: str | None, detail: str) -> None:
        super().__init__(f"HTTP {status}" + (f" {error}" if error else ""))
        self.status = status
        self.error = error
        self.detail = detail

    @property
    def is_transient(self) -> bool:
        return self.status >= 500 or self.status in TRANSIENT_STATUSES

    @classmethod
    def of(cls, response: httpx.Response) -> ErrorResponse:
        return cls(response.status_code, error_code(response), error_detail(response))


class MalformedResponse(Exception):
    """A success status whose body is not what the RFC says; the message says what."""


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """One client's requests to an authorization server's endpoints."""

    http: GuardedClient = field(repr=False)
    auth: ClientAuth
    timeout: httpx.Timeout | float = 10.0
    breaker: CircuitBreaker | None = field(default=None, repr=False)

    async def token(self, url: str, grant: Mapping[str, str]) -> TokenResponse:
        """RFC 6749 §3.2: POST ``grant`` (``grant_type`` and its parameters) to the token
        endpoint; the token response, or ErrorResponse / MalformedResponse."""
        response = await self._post(url, grant)
        body = _json_object(response)
        # Some servers (GitHub) answer 200 with an error member.
        if response.status_code != 200 or (body is not None and "error" in body):
            raise ErrorResponse.of(response)
        if body is None:
            raise MalformedResponse("a token response that is not a JSON object")
        return _token_response(body)

    async def refresh(self, url: str, refresh_token: str) -> TokenResponse:
        """RFC 6749 §6."""
        grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self.token(url, grant)

    async def revoke(self, url: str, token: str, hint: str) -> None:
        """RFC 7009 §2.1; a 200 also answers a token that was already invalid (§2.2)."""
        response = await self._post(url, {"token": token, "token_type_hint": hint})
        if response.status_code != 200:
            raise ErrorResponse.of(response)

    async def introspect(self, url: str, token: str, hint: str) -> Mapping[str, object]:
        """RFC 7662 §2.1; the §2.2 answer (``active`` is its only required member)."""
        response = await self._post(url, {"token": token, "token_type_hint": hint})
        if response.status_code != 200:
            raise ErrorResponse.of(response)
        body = _json_object(response)
        if body is None:
            raise MalformedResponse("an introspection response that is not a JSON object")
        return body

    async def _post(self, url: str, form: Mapping[str, str]) -> httpx.Response:
        headers, body = self.auth.apply(url, form)
        async with self._guarded():
            response = await self.http.post(
                url,
                data=body,
                headers={"Accept": "application/json", **headers},
                timeout=self.timeout,
            )
            if response.status_code >= 500:
                raise ErrorResponse.of(response)  # inside the breaker: an outage
        return response

    @asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        if self.breaker is None:
            yield
            return
        async with self.breaker.call():
            yield


def error_code(response: httpx.Response) -> str | None:
    """The RFC 6749 §5.2 ``error`` of an answer, shortened, or None."""
    body = _json_object(response)
    error = body.get("error") if body is not None else None
    return error[:MAX_ERROR_CHARS] if isinstance(error, str) and error else None


def error_detail(response: httpx.Response) -> str:
    """A short text of an error answer: its detail/description/error/message, or its text."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:MAX_DETAIL_CHARS].strip()
    if isinstance(body, dict):
        for name in ("detail", "error_description", "error", "message"):
            value = body.get(name)
            if isinstance(value, str):
                return value[:MAX_DETAIL_CHARS]
    return ""


def _json_object(response: httpx.Response) -> dict[str, object] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _token_response(body: Mapping[str, object]) -> TokenResponse:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise MalformedResponse("a token response without access_token")
    token_type = body.get("token_type")
    return TokenResponse(
        access_token=access,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_in_s=_expires_in(body.get("expires_in")),
        refresh_token=_text(body.get("refresh_token")),
        id_token=_text(body.get("id_token")),
        scope=_text(body.get("scope")),
    )


def _expires_in(value: object) -> int | None:
    """RFC 6749 §5.1 ``expires_in``: seconds, a positive number (a digit string from some
    servers); absent or null is None, anything else is malformed."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isdigit() and int(value) > 0:
        return int(value)
    raise MalformedResponse("a token response with an invalid expires_in")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
