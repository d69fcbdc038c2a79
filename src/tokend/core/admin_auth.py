"""The one bearer policy of every admin surface: the OpenID provider's ``/admin``, the broker's
directory admin, the gateway's consumers admin, the vault API and the job monitor.

A caller presents ``Authorization: Bearer <token>`` (RFC 6750 §2.1) holding either

- a static admin token the operator configured (compared in constant time), or
- an access token tokend issued: a JWT with ``typ`` ``at+jwt`` (RFC 9068 §2.1), signed by a key
  of the keyring, ``iss`` this issuer, ``aud`` naming the admin audience
  (:func:`admin_audience`: the issuer's ``/admin`` URL, the same for every admin surface), not
  expired, not on the deny-list the OpenID provider writes (``core.revocations``: RFC 7009,
  code replay, refresh-token reuse), and carrying the scope the route wants (``tokend:admin``;
  the vault's routes take their own scopes too).

The OpenID provider adds the admin audience to every token it issues with the ``tokend:admin``
scope. Refusals are the same everywhere, rendered in the surface's shape, with RFC 6750 §3
challenges: no token is a 401 with a bare ``Bearer realm="tokend"``; a token that fails is a 401
``invalid_token``; a token without the scope is a 403 ``insufficient_scope`` naming it.

Admin routes check the caller before their body is read (:class:`AdminRequirement` is a
``core.surfaces.BeforeBody`` dependency), so an anonymous request costs its headers only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from tokend.core.clock import Clock
from tokend.core.errors import InsufficientScope, InvalidToken, Surface, TokendError, Unauthorized
from tokend.core.jwt import KeySource, verify
from tokend.core.revocations import RevocationCheck
from tokend.core.surfaces import SurfaceResolver, render_error

ADMIN_SCOPE: Final = "tokend:admin"
#: RFC 9068 §2.1: the media type of a JWT access token.
ACCESS_TOKEN_TYP: Final = "at+jwt"  # noqa: S105  (a media type)
REALM: Final = "tokend"
#: Algorithms of the keyring's signing keys; the key a token names must be one of them.
_ALGORITHMS: Final = frozenset({"ES256", "RS256", "EdDSA"})
_REQUIRED_CLAIMS: Final = ("exp", "iat", "jti")
_MAX_TOKEN_CHARS: Final = 8192
_CALLER_KEY: Final = "tokend.admin_caller"


def admin_audience(issuer: str) -> str:
    """The audience a token must name to be used on an admin surface (RFC 7519 §4.1.3)."""
    return f"{issuer.rstrip('/')}/admin"


@dataclass(frozen=True, slots=True)
class AdminCaller:
    """Who passed the policy: a static token, or a verified access token's claims."""

    scopes: frozenset[str]
    #: The verified payload; empty for a static token.
    claims: Mapping[str, object] = field(default_factory=dict, repr=False)
    is_static: bool = False

    def has_any(self, scopes: Collection[str]) -> bool:
        """A static token may do everything; a token needs one of ``scopes``."""
        return self.is_static or not self.scopes.isdisjoint(scopes)


class AdminPolicy:
    """Decides who an ``Authorization`` header stands for on an admin surface."""

    def __init__(
        self,
        *,
        static_tokens: Collection[SecretStr | None],
        issuer: str,
        keys: Callable[[], KeySource],
        clock: Clock,
        leeway_s: int,
        revocations: Callable[[], RevocationCheck],
    ) -> None:
        # Digests of equal length, so the comparison time says nothing about a token's length.
        self._static = tuple(
            hashlib.sha256(token.get_secret_value().encode()).digest()
            for token in static_tokens
            if token is not None and token.get_secret_value()
        )
        self._issuer = issuer
        self._audience = admin_audience(issuer)
        self._keys = keys
        self._clock = clock
        self._leeway_s = leeway_s
        self._revocations = revocations

    async def authenticate(self, authorization: str) -> AdminCaller:
        """The caller ``authorization`` stands for; 401 when it stands for nobody."""
        scheme, _, value = authorization.partition(" ")
        token = value.strip()
        if scheme.lower() != "bearer" or not token:
            # RFC 6750 §3.1: no error code when the request had no credentials.
            raise Unauthorized("A bearer token is required.", headers=_challenge())
        if self._is_static(token):
            return AdminCaller(frozenset({ADMIN_SCOPE}), is_static=True)
        return await self.verify(token)

    async def verify(self, token: str) -> AdminCaller:
        """The caller a tokend-issued access token stands for; 401 ``invalid_token`` otherwise."""
        if len(token) > _MAX_TOKEN_CHARS:
            raise _invalid("the token is too long")
        try:
            claims = verify(
                token,
                self._keys(),
                algorithms=_ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                typ=ACCESS_TOKEN_TYP,
                leeway_s=self._leeway_s,
                clock=self._clock,
                required_claims=_REQUIRED_CLAIMS,
            )
        except InvalidToken as exc:
            raise _invalid(exc.internal) from None
        jti, grant_id = claims.payload.get("jti"), claims.payload.get("gid")
        # RFC 7009 §2: a revoked token is refused by every surface, not only the provider's.
        if await self._revocations().is_revoked(
            jti if isinstance(jti, str) else None, grant_id if isinstance(grant_id, str) else None
        ):
            raise _invalid("the token was revoked")
        return AdminCaller(claims.scopes, claims.payload)

    def authorize(self, caller: AdminCaller, any_of: Collection[str]) -> None:
        """403 ``insufficient_scope`` unless ``caller`` holds one of ``any_of``."""
        if not caller.has_any(any_of):
            wanted = " ".join(sorted(any_of))
            raise InsufficientScope(
                f"The bearer token lacks the {wanted} scope.",
                headers=_challenge(
                    error="insufficient_scope",
                    description="The access token lacks the required scope.",
                    scope=wanted,
                ),
            )

    async def admit(self, authorization: str, any_of: Collection[str]) -> AdminCaller:
        caller = await self.authenticate(authorization)
        self.authorize(caller, any_of)
        return caller

    def _is_static(self, token: str) -> bool:
        presented = hashlib.sha256(token.encode()).digest()
        matches = [hmac.compare_digest(presented, known) for known in self._static]
        return any(matches)

    def protect(self, app: ASGIApp, surface: Surface, version: str) -> ASGIApp:
        """``app`` (a mounted ASGI app) behind the policy with the ``tokend:admin`` scope."""
        resolver = SurfaceResolver(default=surface)

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            authorization = b""
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    authorization = value
            try:
                await self.admit(authorization.decode("latin-1"), (ADMIN_SCOPE,))
            except TokendError as error:
                await render_error(error, scope, resolver, version)(scope, receive, send)
                return
            await app(scope, receive, send)

        return guarded


@dataclass(frozen=True, slots=True, eq=False)
class AdminRequirement:
    """A FastAPI dependency: the caller, who must hold one of ``any_of``; its check runs before
    the route reads the body (``core.surfaces.BeforeBody``)."""

    policy: AdminPolicy
    any_of: frozenset[str] = frozenset({ADMIN_SCOPE})

    async def before_body(self, request: Request) -> None:
        await self(request)

    async def __call__(self, request: Request) -> AdminCaller:
        # Authenticated once per request, however many requirements the route has.
        caller = request.scope.get(_CALLER_KEY)
        if not isinstance(caller, AdminCaller):
            caller = await self.policy.authenticate(request.headers.get("authorization", ""))
            request.scope[_CALLER_KEY] = caller
        self.policy.authorize(caller, self.any_of)
        return caller


def _invalid(internal: str | None) -> InvalidToken:
    description = "The bearer token is invalid, expired or revoked."
    return InvalidToken(
        description,
        internal=internal,
        headers=_challenge(error="invalid_token", description=description),
    )


def _challenge(
    *, error: str | None = None, description: str | None = None, scope: str | None = None
) -> dict[str, str]:
    """RFC 6750 §3 ``WWW-Authenticate``: the realm, then the error, its text and the scope."""
    parts = [f'Bearer realm="{REALM}"']
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append(f'error_description="{description}"')
    if scope is not None:
        parts.append(f'scope="{scope}"')
    return {"WWW-Authenticate": ", ".join(parts)}


def bearer_matches(authorization: str, expected: str) -> bool:
    """True when ``authorization`` is ``Bearer <expected>``; compared in constant time.

    For credentials that are not admin tokens (the operator role's code issuer)."""
    scheme, _, presented = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(presented.strip().encode()).digest(),
        hashlib.sha256(expected.encode()).digest(),
    )
