"""Who is calling: a typed view of verified claims from tokend, Keycloak or any OIDC issuer."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

AuthMethod = Literal["bearer", "session"]


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    issuer: str
    #: The client the token was issued to (``azp`` in Keycloak, ``client_id`` in RFC 9068).
    client: str | None
    scopes: frozenset[str]
    #: Realm roles, top-level ``roles`` and the roles of the issuer's ``role_clients``.
    roles: frozenset[str]
    #: Every ``resource_access.<client>.roles`` of the token, by client.
    client_roles: Mapping[str, frozenset[str]]
    username: str | None
    email: str | None
    name: str | None
    groups: tuple[str, ...]
    expires_at: datetime | None
    via: AuthMethod
    claims: Mapping[str, object] = field(repr=False)

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
    """Map verified claims; unknown or ill-typed members are ignored, never trusted."""
    # Claims wraps a read-only dict: reading that directly keeps this off the hot path.
    claims = getattr(claims, "payload", claims)
    client_roles = _client_roles(claims.get("resource_access"))
    roles = set(_roles(claims.get("realm_access")))
    roles.update(_strings(claims.get("roles")))
    for role_client in role_clients:
        roles.update(client_roles.get(role_client, ()))
    client = _string(claims.get("azp")) or _string(claims.get("client_id"))
    subject = claims.get("sub")
    return Principal(
        subject=subject if isinstance(subject, str) else "",
        issuer=issuer,
        client=client,
        scopes=_scopes(claims),
        roles=frozenset(roles),
        client_roles=client_roles,
        username=_string(claims.get("preferred_username")),
        email=_string(claims.get("email")),
        name=_string(claims.get("name")),
        groups=tuple(_strings(claims.get("groups"))),
        expires_at=_epoch(claims.get("exp")),
        via=via,
        claims=claims,
    )


def _scopes(claims: Mapping[str, object]) -> frozenset[str]:
    scope = claims.get("scope")
    if isinstance(scope, str):
        return frozenset(scope.split())
    # RFC 9068 §2.2.3 uses "scope"; some issuers (Azure AD, Okta) send a "scp" list.
    return frozenset(_strings(claims.get("scp")))


def _client_roles(resource_access: object) -> dict[str, frozenset[str]]:
    # Most tokens have none: skip the comprehension (a function call of its own in 3.11).
    if not isinstance(resource_access, dict) or not resource_access:
        return {}
    return {client: frozenset(_roles(entry)) for client, entry in resource_access.items()}


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
