"""How the user authenticated: the ``acr`` and ``amr`` claims (OIDC Core §2, RFC 8176).

Two authentication context classes: a single factor (the password) and multi-factor (RFC 8176
``mfa``: a password and a one-time code, or a passkey with user verification; ``amr.amr_of``
says which sign-in is which). The ``amr`` values themselves come from ``amr.amr_of``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: The authentication context class of a password sign-in (a single factor).
ACR_PASSWORD: Final = "urn:tokend:acr:password"  # noqa: S105  (an acr value)
#: Two factors of different kinds (RFC 8176 ``mfa``); what ``require_mfa`` and an essential
#: ``acr`` claim of this value ask for.
ACR_MFA: Final = "urn:tokend:acr:mfa"
#: Every ``acr`` value this provider can issue (discovery ``acr_values_supported``).
ACR_VALUES: Final = (ACR_PASSWORD, ACR_MFA)


@dataclass(frozen=True, slots=True)
class Authentication:
    acr: str
    #: RFC 8176 §2 method references.
    amr: tuple[str, ...]


def password_sign_in() -> Authentication:
    """A sign-in with the account's password: RFC 8176 §2 ``pwd``."""
    return Authentication(ACR_PASSWORD, ("pwd",))


_BY_ACR: Final = {a.acr: a for a in (password_sign_in(),)}


def acr_of(amr: tuple[str, ...]) -> str:
    """The context class of a sign-in with these RFC 8176 methods."""
    return ACR_MFA if "mfa" in amr else ACR_PASSWORD


def amr_of(acr: str | None) -> tuple[str, ...]:
    """The ``amr`` of a grant issued at ``acr`` (kept with codes and refresh tokens)."""
    found = _BY_ACR.get(acr) if acr is not None else None
    return found.amr if found is not None else ()


def satisfies(acr: str, wanted: tuple[str, ...]) -> bool:
    """Whether an authentication at ``acr`` meets one of the ``wanted`` values."""
    return not wanted or acr in wanted
