"""Who may call the vault API: the admin policy (``core.admin_auth``) with the vault's scopes.

Accepted bearers: the configured static ``api_token`` or the server's ``admin_token`` (admin,
every client), or an access token tokend issued for the admin audience with ``vault:read`` /
``vault:admin`` (``tokend:admin`` counts as ``vault:admin``), not revoked (the admin policy asks
the deny-list). The caller is checked before the body is read. ``open_access`` serves the
seed's open API unchanged.

Tenants are isolated by the token's ``vault_clients`` claim: the vault client ids (tenants)
whose connections it may reach, which the OpenID provider writes from the client's own
``vault_clients`` setting. A token without the claim reaches no connection at all, unless it
carries ``vault:admin`` (or ``tokend:admin``): then it reaches every one. The same holds for the
RFC 8693 exchange (``routes/exchange.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from fastapi import Depends
from starlette.requests import Request

from tokend.core.admin_auth import ADMIN_SCOPE, AdminCaller, AdminPolicy, AdminRequirement
from tokend.core.errors import InsufficientScope, InvalidToken
from tokend.vault.errors import BranchNotFound, ClientNotFound

Scope = Literal["vault:read", "vault:admin"]
READ: Final[Scope] = "vault:read"
ADMIN: Final[Scope] = "vault:admin"
SCOPES: Final = (READ, ADMIN)
EXCHANGE: Final = "vault:exchange"


@dataclass(frozen=True, slots=True)
class Caller:
    scopes: frozenset[str]
    #: None: every client; otherwise the client ids this caller may see.
    client_pks: frozenset[int] | None

    def check_client(self, client_pk: int) -> None:
        """404 for a client outside the caller's reach: its existence is not revealed."""
        if self.client_pks is not None and client_pk not in self.client_pks:
            raise ClientNotFound

    def check_branch(self, client_pk: int) -> None:
        """404 for a branch of a client outside the caller's reach, as for a missing branch."""
        if self.client_pks is not None and client_pk not in self.client_pks:
            raise BranchNotFound

    def visible(self, client_pks: list[int]) -> list[int]:
        return (
            client_pks
            if self.client_pks is None
            else [c for c in client_pks if c in self.client_pks]
        )


EVERYONE: Final = Caller(frozenset({READ, ADMIN}), None)


def _admits(scope: str) -> frozenset[str]:
    # vault:admin includes vault:read; tokend:admin is admin everywhere.
    return frozenset({scope, ADMIN, ADMIN_SCOPE})


class VaultAccess:
    def __init__(self, policy: AdminPolicy, *, open_access: bool) -> None:
        self._policy = policy
        self._open_access = open_access
        self._requirements = {scope: AdminRequirement(policy, _admits(scope)) for scope in SCOPES}

    async def caller(self, scope: Scope, request: Request) -> Caller:
        """The Caller :meth:`require` answers, for a route's lean twin (``tokend.server.lean``),
        which has no FastAPI to solve the dependency: the same checks, the same errors."""
        if self._open_access:
            return EVERYONE
        return caller_of(await self._requirements[scope](request))

    def require(self, scope: Scope) -> Callable[..., Awaitable[Caller]]:
        """A FastAPI dependency answering the Caller, or raising 401/403 before the body."""
        if self._open_access:

            async def everyone() -> Caller:
                return EVERYONE

            return everyone

        requirement = Depends(self._requirements[scope])

        async def dependency(admitted: AdminCaller = requirement) -> Caller:
            return caller_of(admitted)

        return dependency

    async def exchanger(self, subject_token: str) -> Caller:
        """RFC 8693 §2.1: the Caller a ``subject_token`` stands for, if it may exchange."""
        admitted = await self._policy.verify(subject_token)
        if not admitted.has_any(_admits(EXCHANGE)):
            raise InsufficientScope(f"the {EXCHANGE} scope is required")
        return caller_of(admitted)


def caller_of(admitted: AdminCaller) -> Caller:
    """The vault Caller of a caller the admin policy let in: the tenants its token names, every
    tenant for an admin without the claim, none for anyone else."""
    if admitted.is_static:
        return EVERYONE
    allowed = admitted.claims.get("vault_clients")
    if allowed is None:
        is_admin = not admitted.scopes.isdisjoint({ADMIN, ADMIN_SCOPE})
        # Secure by default: a token given no tenant reaches no tenant's connection.
        return Caller(admitted.scopes, None if is_admin else frozenset())
    if not isinstance(allowed, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in allowed
    ):
        raise InvalidToken(internal="vault_clients claim is not a list of ids")
    return Caller(admitted.scopes, frozenset(allowed))
