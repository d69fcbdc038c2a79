"""How the user authenticated: the ``acr`` and ``amr`` claims (OIDC Core §2, RFC 8176).

One sign-in method exists today, the password; other methods (one-time codes, passkeys) add
their own :class:`Authentication` here and the ``amr`` values RFC 8176 §2 names for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: The authentication context class of a password sign-in (a single factor).
ACR_PASSWORD: Final = "urn:tokend:acr:password"  # noqa: S105  (an acr value)
#: Every ``acr`` value this provider can issue (discovery ``acr_values_supported``).
ACR_VALUES: Final = (ACR_PASSWORD,)


@dataclass(frozen=True, slots=True)
class Authentication:
    acr: str
    #: RFC 8176 §2 method references.
    amr: tuple[str, ...]


def password_sign_in() -> Authentication:
    """A sign-in with the account's password: RFC 8176 §2 ``pwd``."""
    return Authentication(ACR_PASSWORD, ("pwd",))


_BY_ACR: Final = {a.acr: a for a in (password_sign_in(),)}


def amr_of(acr: str | None) -> tuple[str, ...]:
    """The ``amr`` of a grant issued at ``acr`` (kept with codes and refresh tokens)."""
    found = _BY_ACR.get(acr) if acr is not None else None
    return found.amr if found is not None else ()


def satisfies(acr: str, wanted: tuple[str, ...]) -> bool:
    """Whether an authentication at ``acr`` meets one of the ``wanted`` values."""
    return not wanted or acr in wanted
