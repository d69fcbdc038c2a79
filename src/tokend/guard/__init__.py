"""tokend.guard: accept tokens from tokend, Keycloak or any OIDC issuer in a FastAPI service."""

from tokend.guard.dependencies import Guard
from tokend.guard.envelope import envelope, success_body
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
from tokend.guard.issuers import TrustedIssuer
from tokend.guard.principal import Principal
from tokend.guard.validator import JWTValidator

__all__ = [
    "AuthServiceException",
    "Guard",
    "InsufficientPermissionsError",
    "JWKSFetchError",
    "JWTValidator",
    "KeycloakConnectionError",
    "NotAuthenticated",
    "Principal",
    "RefreshTokenError",
    "TokenExpiredError",
    "TokenValidationError",
    "TrustedIssuer",
    "UserNotFoundError",
    "envelope",
    "success_body",
]
