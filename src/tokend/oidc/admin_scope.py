"""Who may hold ``tokend:admin`` in a grant made by an end user.

A client's allowed scopes say what the client may ask for, not who the user is: were the scope
granted to whoever signs in through a client allowed it, every user of that client would act as
an administrator wherever the token is taken. So in a user's grant (authorization code, device,
CIBA and the refresh tokens they lead to) ``tokend:admin`` is kept only for a user holding the
admin scope role (``oidc.admin_scope_role``, ``admin``), either realm-wide (any client allowed
the scope), or as a role of the built-in console client on that client alone (issue 21's
per-client roles: an operator may make someone a console administrator and nothing more).
Otherwise the scope is dropped from the grant (RFC 6749 §3.3: the authorization server may
grant fewer scopes than asked; §5.1: the token response's ``scope`` then says which).

The check runs each time an access token is issued for the grant, so a role removed stops the
next refresh from carrying the scope; token exchange (RFC 8693) applies it to a local user's
subject token too, and never lets another issuer's token bring the scope. A client's own
``client_credentials`` tokens are not affected: there the client is the one acting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from tokend.core.admin_auth import ADMIN_SCOPE
from tokend.oidc.records import User

#: The operator console's built-in public client (``tokend.console.signin``).
CONSOLE_CLIENT_ID: Final = "tokend-console"


@dataclass(frozen=True, slots=True)
class AdminScopeRule:
    #: The role that lets a user's grant carry ``tokend:admin`` (``oidc.admin_scope_role``).
    role: str

    def allows(self, user: User, client_id: str) -> bool:
        """Whether ``user``'s grant to ``client_id`` may carry ``tokend:admin``."""
        if user.disabled:
            return False
        if self.role in user.roles:
            return True
        return client_id == CONSOLE_CLIENT_ID and self.role in user.client_roles.get(
            CONSOLE_CLIENT_ID, ()
        )

    def narrow(self, scopes: frozenset[str], user: User, client_id: str) -> frozenset[str]:
        """``scopes`` without ``tokend:admin`` unless :meth:`allows` says the user may hold it."""
        if ADMIN_SCOPE in scopes and not self.allows(user, client_id):
            return scopes - {ADMIN_SCOPE}
        return scopes
