"""The roles and groups a user's tokens carry when the ``roles`` scope is granted, in the shape
the client asked for (``Client.role_claims``).

``roles`` (flat): ``roles`` holds the realm-wide roles and the client's own roles, ``groups``
the groups; ``tokend.guard``'s ``Principal.roles`` reads it as is. ``keycloak``: Keycloak's
``realm_access.roles`` and ``resource_access.<client>.roles`` for the client and the audiences
its tokens are for (a resource server sees its roles; no other client's are disclosed), and
``groups``; resource servers written for Keycloak keep working.
"""

from __future__ import annotations

from collections.abc import Collection

from tokend.oidc.records import ROLES_SCOPE, Client, RoleClaimShape, User


def role_claims(
    user: User, client: Client, scopes: Collection[str], audience: Collection[str] = ()
) -> dict[str, object]:
    """The claims to add to the user's access and ID tokens (and introspection); empty when the
    ``roles`` scope was not granted."""
    if ROLES_SCOPE not in scopes:
        return {}
    claims: dict[str, object]
    if client.role_claims is RoleClaimShape.KEYCLOAK:
        readers = dict.fromkeys((client.client_id, *audience))
        resource_access = {
            reader: {"roles": list(user.client_roles[reader])}
            for reader in readers
            if user.client_roles.get(reader)
        }
        claims = {"realm_access": {"roles": list(user.roles)}}
        if resource_access:
            claims["resource_access"] = resource_access
    else:
        own = user.client_roles.get(client.client_id, ())
        claims = {"roles": list(dict.fromkeys((*user.roles, *own)))}
    claims["groups"] = list(user.groups)
    return claims
