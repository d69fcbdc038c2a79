"""Who is calling: a typed view of verified claims from tokend, Keycloak or any OIDC issuer."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Literal

AuthMethod = Literal["bearer", "session"]


@dataclass(frozen=True)
class Principal:
    """The verified claims of one token, read as who is calling.

    Built on every authenticated request, so only the claims and where they came from are
    stored; each view below is worked out the first time it is read and kept (a route that
    checks one role does not pay for mapping names, groups and client roles). Read-only: the
    views are ``cached_property``, which stores into the instance dict without ``__setattr__``.
    """

    #: The verified payload; unknown or ill-typed members are ignored by the views, never trusted.
    claims: Mapping[str, object] = field(repr=False)
    issuer: str
    #: Clients whose ``resource_access`` roles count as the principal's :attr:`roles`.
    role_clients: Collection[str] = ()
    via: AuthMethod = "bearer"

    @cached_property
    def subject(self) -> str:
        return _string(self.claims.get("sub")) or ""

    @cached_property
    def client(self) -> str | None:
        """The client the token was issued to (``azp`` in Keycloak, ``client_id`` in RFC 9068)."""
        return _string(self.claims.get("azp")) or _string(self.claims.get("client_id"))

    @cached_property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope")
        if isinstance(scope, str):
            return frozenset(scope.split())
        # RFC 9068 §2.2.3 uses "scope"; some issuers (Azure AD, Okta) send a "scp" list.
        return frozenset(_strings(self.claims.get("scp")))

    @cached_property
    def roles(self) -> frozenset[str]:
        """Realm roles, top-level ``roles`` and the roles of the issuer's ``role_clients``."""
        roles = set(_roles(self.claims.get("realm_access")))
        roles.update(_strings(self.claims.get("roles")))
        for role_client in self.role_clients:
            roles.update(self.client_roles.get(role_client, ()))
        return frozenset(roles)

    @cached_property
    def client_roles(self) -> Mapping[str, frozenset[str]]:
        """Every ``resource_access.<client>.roles`` of the token, by client."""
        resource_access = self.claims.get("resource_access")
        if not isinstance(resource_access, dict):
            return MappingProxyType({})
        return MappingProxyType(
            {client: frozenset(_roles(entry)) for client, entry in resource_access.items()}
        )

    @cached_property
    def username(self) -> str | None:
        return _string(self.claims.get("preferred_username"))

    @cached_property
    def email(self) -> str | None:
        return _string(self.claims.get("email"))

    @cached_property
    def name(self) -> str | None:
        return _string(self.claims.get("name"))

    @cached_property
    def groups(self) -> tuple[str, ...]:
        return tuple(_strings(self.claims.get("groups")))

    @cached_property
    def expires_at(self) -> datetime | None:
        return _epoch(self.claims.get("exp"))

    def __repr__(self) -> str:  # the views, not the claims (which may hold personal data)
        return f"Principal(subject={self.subject!r}, issuer={self.issuer!r}, via={self.via!r})"

    def has_roles(
        self,
        roles: Collection[str],
        *,
        mode: Literal["any", "all"] = "any",
        client: str | None = None,
    ) -> bool:
        """Case-sensitive role match (seed 002); ``client`` checks that client's roles only."""
        held = self.client_roles.get(client, frozenset()) if client is not None else self.roles
        if not roles:
            return True
        if mode == "all":
            return held.issuperset(roles)
        return not held.isdisjoint(roles)

    def has_scopes(self, scopes: Collection[str]) -> bool:
        return self.scopes.issuperset(scopes)


def principal_from_claims(
    claims: Mapping[str, object],
    *,
    issuer: str,
    role_clients: Collection[str] = (),
    via: AuthMethod = "bearer",
) -> Principal:
    """The principal of verified claims (tokend's ``Claims`` or a plain mapping)."""
    # Claims wraps a read-only dict: reading that directly keeps the views off a Python
    # __getitem__ per lookup.
    return Principal(getattr(claims, "payload", claims), issuer, role_clients, via)


def _roles(access: object) -> Sequence[str]:
    return _strings(access.get("roles")) if isinstance(access, dict) else ()


def _strings(value: object) -> Sequence[str]:
    if not isinstance(value, list):
        return ()
    return [item for item in value if isinstance(item, str)]


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _epoch(value: object) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None
