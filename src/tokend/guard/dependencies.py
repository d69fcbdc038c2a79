"""FastAPI dependencies: ``require_auth``, ``require_roles``, ``require_scopes``.

A request is authenticated by its bearer token (RFC 6750 §2.1) or, failing that, by the
guard's session cookie. Failures follow RFC 6750 §3: 401 with a ``WWW-Authenticate`` challenge
(no error code when no credentials were sent, ``invalid_token`` when they were bad) and 403
``insufficient_scope`` for a missing scope, 403 for a missing role. A DPoP request (RFC 9449
§7) needs a proof of the token's key, and one of the guard's nonces when it has them (§9).
"""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Literal, Protocol

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from tokend.core.dpop import DpopNonces, ReplayCache
from tokend.core.errors import ErrorContext, TokendError, render_envelope
from tokend.guard.dpop import MemoryReplays, check_dpop
from tokend.guard.errors import (
    AuthServiceException,
    InsufficientPermissionsError,
    NotAuthenticated,
    TokenExpiredError,
    TokenValidationError,
    bearer_challenge,
)
from tokend.guard.principal import Principal
from tokend.guard.validator import JWTValidator

DEFAULT_COOKIE = "tokend_session"

Dependency = Callable[..., Awaitable[Principal]]


class SessionPrincipals(Protocol):
    async def principal(self, session_id: str) -> Principal | None:
        """The principal of a live session, or None for an unknown or ended one."""
        ...


class Guard:
    """Authentication and authorization for routes, over one :class:`JWTValidator`."""

    def __init__(
        self,
        validator: JWTValidator,
        *,
        realm: str = "tokend",
        sessions: SessionPrincipals | None = None,
        cookie_name: str = DEFAULT_COOKIE,
        dpop_replays: ReplayCache | None = None,
        dpop_nonces: DpopNonces | None = None,
    ) -> None:
        self.validator = validator
        self.realm = realm
        self.sessions = sessions
        self.cookie_name = cookie_name
        #: RFC 9449 §11.1: seen proof jti values; in memory unless a shared cache is given.
        self.dpop_replays: ReplayCache = dpop_replays or MemoryReplays()
        #: RFC 9449 §9: when set, every DPoP proof must carry one of these server nonces
        #: (``guard.dpop.guard_nonces``); None: no nonce is asked for.
        self.dpop_nonces = dpop_nonces

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """``FastAPI(lifespan=guard.lifespan)``: background key refresh while the app runs."""
        async with self.validator.running():
            yield

    async def require_auth(self, request: Request, response: Response) -> Principal:
        """The caller, from the bearer token or the session cookie; 401 otherwise."""
        presented = self._bearer(request)
        if presented is not None:
            scheme, token = presented
            try:
                principal = await self.validator.validate(token)
            except (TokenValidationError, TokenExpiredError) as exc:
                # RFC 6750 §3.1: a bad token is invalid_token whatever the reason.
                exc.headers = bearer_challenge(self.realm, "invalid_token", exc.description)
                raise
            # RFC 9449 §7: a DPoP-bound token needs a proof of its key with every request.
            proof = await check_dpop(
                scheme=scheme,
                token=token,
                claims=principal.claims,
                proofs=request.headers.getlist("dpop"),
                method=request.method,
                url=str(request.url),
                clock=self.validator.clock,
                replay=self.dpop_replays,
                realm=self.realm,
                nonces=self.dpop_nonces,
            )
            if proof is not None and self.dpop_nonces is not None:
                # RFC 9449 §9: the nonce to use next, so the client need not be refused first
                # when the window turns (a route answering a Response of its own drops it).
                response.headers["DPoP-Nonce"] = self.dpop_nonces.current()
            return principal
        session_id = request.cookies.get(self.cookie_name)
        if session_id and self.sessions is not None:
            by_session = await self.sessions.principal(session_id)
            if by_session is not None:
                return by_session
        # RFC 6750 §3.1: no credentials at all gets a challenge without an error code.
        raise NotAuthenticated(headers=bearer_challenge(self.realm))

    def require_roles(
        self, *roles: str, mode: Literal["any", "all"] = "any", client: str | None = None
    ) -> Dependency:
        """A dependency passing callers with any (or all) of ``roles``; 403 otherwise."""

        async def dependency(
            principal: Annotated[Principal, Depends(self.require_auth)],
        ) -> Principal:
            if not principal.has_roles(roles, mode=mode, client=client):
                wanted = ", ".join(f"'{role}'" for role in roles)
                raise InsufficientPermissionsError(
                    ", ".join(roles),
                    f"Forbidden: {wanted} role required",
                    details={"roles": list(roles), "mode": mode, "client": client},
                )
            return principal

        return dependency

    def require_scopes(self, *scopes: str) -> Dependency:
        """A dependency passing callers whose token holds every one of ``scopes``."""

        async def dependency(
            principal: Annotated[Principal, Depends(self.require_auth)],
        ) -> Principal:
            missing = [scope for scope in scopes if scope not in principal.scopes]
            if missing:
                raise InsufficientPermissionsError(
                    " ".join(scopes),
                    f"Forbidden: scope '{missing[0]}' required",
                    details={"scopes": list(scopes)},
                    # RFC 6750 §3.1: insufficient_scope names the scope needed.
                    headers=bearer_challenge(
                        self.realm,
                        "insufficient_scope",
                        "The token lacks a required scope",
                        scope=" ".join(scopes),
                    ),
                )
            return principal

        return dependency

    def install(self, app: FastAPI, *, version: str = "1.0") -> None:
        """Render the guard's errors as the seed-002 envelope in a third-party app."""

        async def on_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, TokendError)
            request_id = request.headers.get("x-request-id") or secrets.token_hex(8)
            ctx = ErrorContext(request_id=request_id[:128], path=request.url.path, version=version)
            return render_envelope(exc, ctx)

        app.add_exception_handler(AuthServiceException, on_error)

    def _bearer(self, request: Request) -> tuple[str, str] | None:
        """The scheme (``bearer``, or ``dpop``: RFC 9449 §7.1) and the token."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        # RFC 6750 §2.1 / RFC 7235 §2.1: the scheme name is case-insensitive.
        scheme = scheme.lower()
        if scheme not in ("bearer", "dpop"):
            return None
        token = token.strip()
        if not token:
            raise TokenValidationError(
                internal="empty bearer token",
                headers=bearer_challenge(self.realm, "invalid_token", "The token is empty"),
            )
        return scheme, token
