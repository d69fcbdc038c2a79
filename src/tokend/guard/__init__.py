"""tokend.guard: accept tokens from tokend, Keycloak or any OIDC issuer in a FastAPI service.

The public names below load on first use (PEP 562): ``tokend.config`` imports
``tokend.guard.settings``, which runs this file, and a process that never touches the guard
must not pay for FastAPI, httpx and joserfc. ``from tokend.guard import Guard`` works as before.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokend.guard.dependencies import Guard
    from tokend.guard.envelope import (
        APIResponse,
        envelope,
        error_body,
        success_body,
        wrap_response,
    )
    from tokend.guard.errors import (
        AuthServiceException,
        InsufficientPermissionsError,
        JWKSFetchError,
        KeycloakConnectionError,
        NotAuthenticated,
        RefreshTokenError,
        TokenExpiredError,
        TokenValidationError,
        UserNotFoundError,
    )
    from tokend.guard.issuers import RevocationHook, TrustedIssuer
    from tokend.guard.principal import Principal
    from tokend.guard.validator import JWTValidator

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "APIResponse": "tokend.guard.envelope",
    "AuthServiceException": "tokend.guard.errors",
    "Guard": "tokend.guard.dependencies",
    "InsufficientPermissionsError": "tokend.guard.errors",
    "JWKSFetchError": "tokend.guard.errors",
    "JWTValidator": "tokend.guard.validator",
    "KeycloakConnectionError": "tokend.guard.errors",
    "NotAuthenticated": "tokend.guard.errors",
    "Principal": "tokend.guard.principal",
    "RefreshTokenError": "tokend.guard.errors",
    "RevocationHook": "tokend.guard.issuers",
    "TokenExpiredError": "tokend.guard.errors",
    "TokenValidationError": "tokend.guard.errors",
    "TrustedIssuer": "tokend.guard.issuers",
    "UserNotFoundError": "tokend.guard.errors",
    "envelope": "tokend.guard.envelope",
    "error_body": "tokend.guard.envelope",
    "success_body": "tokend.guard.envelope",
    "wrap_response": "tokend.guard.envelope",
}

__all__ = [
    "APIResponse",
    "AuthServiceException",
    "Guard",
    "InsufficientPermissionsError",
    "JWKSFetchError",
    "JWTValidator",
    "KeycloakConnectionError",
    "NotAuthenticated",
    "Principal",
    "RefreshTokenError",
    "RevocationHook",
    "TokenExpiredError",
    "TokenValidationError",
    "TrustedIssuer",
    "UserNotFoundError",
    "envelope",
    "error_body",
    "success_body",
    "wrap_response",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _GuardPackage(ModuleType):
    """This package, keeping ``envelope`` the function when ``tokend.guard.envelope`` loads.

    Importing a submodule binds it on its package under its own name; the eager imports this
    file used to make rebound the name right after. Now the binding is intercepted instead.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _GuardPackage
