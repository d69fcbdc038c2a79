"""Who may call the vault API: a bearer token with ``vault:read`` / ``vault:admin``.

Accepted bearers: the configured static ``api_token`` (admin, every client), or a JWT tokend
issued (its keyring, its issuer) with the scope; its ``vault_clients`` claim, when present,
limits the caller to those client ids (per-client isolation). ``open_access`` serves the seed's
open API unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from fastapi import Request

from tokend.core.admin_auth import bearer_matches
from tokend.core.clock import Clock
from tokend.core.errors import InsufficientScope, InvalidToken, Unauthorized
from tokend.core.jwt import KeySource, verify
from tokend.vault.errors import ClientNotFound
from tokend.vault.settings import VaultSettings

Scope = Literal["vault:read", "vault:admin"]
READ: Final[Scope] = "vault:read"
ADMIN: Final[Scope] = "vault:admin"
EXCHANGE: Final = "vault:exchange"
_ALGORITHMS: Final = frozenset({"ES256", "RS256", "EdDSA"})
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="tokend-vault"'}


@dataclass(frozen=True, slots=True)
class Caller:
    scopes: frozenset[str]
    #: None: every client; otherwise the client ids this caller may see.
    client_pks: frozenset[int] | None

    def check_client(self, client_pk: int) -> None:
        """404 for a client outside the caller's reach: its existence is not revealed."""
        if self.client_pks is not None and client_pk not in self.client_pks:
            raise ClientNotFound

    def visible(self, client_pks: list[int]) -> list[int]:
        return (
            client_pks
            if self.client_pks is None
            else [c for c in client_pks if c in self.client_pks]
        )


EVERYONE: Final = Caller(frozenset({READ, ADMIN}), None)


class VaultAccess:
    def __init__(
        self,
        settings: VaultSettings,
        issuer: str,
        keys: Callable[[], KeySource],
        clock: Clock,
        leeway_s: int,
    ) -> None:
        self._settings = settings
        self._issuer = issuer
        self._keys = keys
        self._clock = clock
        self._leeway_s = leeway_s

    def require(self, scope: Scope) -> Callable[[Request], Awaitable[Caller]]:
        """A FastAPI dependency answering the Caller, or raising 401/403."""

        # async: FastAPI would run a plain function in a worker thread, on the hot path.
        async def dependency(request: Request) -> Caller:
            if self._settings.open_access:
                return EVERYONE
            caller = self.authenticate(request.headers.get("authorization", ""))
            # vault:admin includes vault:read.
            if scope not in caller.scopes and ADMIN not in caller.scopes:
                raise InsufficientScope(f"the {scope} scope is required")
            return caller

        return dependency

    def authenticate(self, authorization: str) -> Caller:
        api_token = self._settings.api_token
        if api_token is not None and bearer_matches(authorization, api_token.get_secret_value()):
            return EVERYONE
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("A bearer token is required.", headers=_CHALLENGE)
        return self.caller_of(token.strip())

    def caller_of(self, token: str) -> Caller:
        """The Caller a tokend-issued JWT stands for; InvalidToken if it is not one."""
        claims = verify(
            token,
            self._keys(),
            algorithms=_ALGORITHMS,
            issuer=self._issuer,
            audience=None,
            # RFC 9068 §4: only tokend's access tokens; the broker's and the operators' tokens
            # come from the same keyring and issuer but are other kinds (RFC 8725 §3.11).
            typ="at+jwt",
            leeway_s=self._leeway_s,
            clock=self._clock,
        )
        allowed = claims.get("vault_clients")
        client_pks: frozenset[int] | None = None
        if allowed is not None:
            if not isinstance(allowed, list) or not all(
                isinstance(c, int) and not isinstance(c, bool) for c in allowed
            ):
                raise InvalidToken(internal="vault_clients claim is not a list of ids")
            client_pks = frozenset(allowed)
        return Caller(claims.scopes, client_pks)
