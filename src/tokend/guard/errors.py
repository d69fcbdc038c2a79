"""The seed-002 exception family, as part of tokend's one hierarchy.

    TokendError
    └── AuthServiceException (400 AUTH_ERROR)
        ├── NotAuthenticated (401 UNAUTHORIZED): no credentials at all
        ├── TokenValidationError (401 TOKEN_INVALID)
        ├── TokenExpiredError (401 TOKEN_EXPIRED)
        ├── InsufficientPermissionsError (403 INSUFFICIENT_PERMISSIONS)
        ├── KeycloakConnectionError (503 KEYCLOAK_CONNECTION_ERROR)
        ├── JWKSFetchError (503 JWKS_FETCH_ERROR)
        ├── UserNotFoundError (404 USER_NOT_FOUND)
        ├── RefreshTokenError (401 REFRESH_TOKEN_ERROR)
        └── LoginFailed (400 LOGIN_FAILED): a browser login that cannot go on

The envelope renderer upper-cases ``code``, so ``error_code`` is what the seed put on the wire.
401s carry an RFC 6750 §3 ``WWW-Authenticate`` challenge built by :func:`bearer_challenge`.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokend.core.errors import JsonValue, TokendError


def bearer_challenge(
    realm: str, error: str | None = None, description: str | None = None, scope: str | None = None
) -> dict[str, str]:
    """An RFC 6750 §3 challenge; without ``error`` when the request had no credentials."""
    params = [f'realm="{_quoted(realm)}"']
    if error is not None:
        params.append(f'error="{error}"')
    if description is not None:
        params.append(f'error_description="{_quoted(description)}"')
    if scope is not None:
        params.append(f'scope="{_quoted(scope)}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description and scope exclude '"' and '\'.
    return "".join(ch for ch in text if ch not in '"\\' and " " <= ch <= "~")


class AuthServiceException(TokendError):
    code, status = "auth_error", 400
    default_description = "Authentication error."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, JsonValue] | None = None,
        internal: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, internal=internal, details=details, headers=headers)

    @property
    def message(self) -> str:
        return self.description

    @property
    def error_code(self) -> str:
        return self.code.upper()

    @property
    def status_code(self) -> int:
        return self.status


class NotAuthenticated(AuthServiceException):
    code, status = "unauthorized", 401
    default_description = "Not authenticated"


class TokenValidationError(AuthServiceException):
    code, status = "token_invalid", 401
    default_description = "Invalid or expired token"
    #: Why, in one word, for the guard's log line (never the client's body): ``audience``,
    #: ``issuer``, ``key``, ``expired``, ``not_yet_valid``, ``type``, ``claims``, ``revoked``,
    #: ``malformed``, or ``invalid``.
    reason: str = "invalid"


class TokenExpiredError(AuthServiceException):
    code, status = "token_expired", 401
    default_description = "Token has expired"
    reason: str = "expired"


class InsufficientPermissionsError(AuthServiceException):
    code, status = "insufficient_permissions", 403
    default_description = "Insufficient permissions"

    def __init__(
        self,
        required: str | None = None,
        message: str | None = None,
        *,
        details: Mapping[str, JsonValue] | None = None,
        internal: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if message is None and required is not None:
            message = f"Required permission: {required}"
        merged = {"required": required, **(details or {})} if required is not None else details
        super().__init__(message, details=merged, internal=internal, headers=headers)


class KeycloakConnectionError(AuthServiceException):
    code, status = "keycloak_connection_error", 503
    default_description = "Identity provider unreachable"


class JWKSFetchError(AuthServiceException):
    code, status = "jwks_fetch_error", 503
    default_description = "Signing keys of the token issuer are unavailable"


class UserNotFoundError(AuthServiceException):
    code, status = "user_not_found", 404
    default_description = "User not found"

    def __init__(self, user_id: str | None = None, message: str | None = None) -> None:
        super().__init__(message, details={"user_id": user_id} if user_id is not None else None)


class RefreshTokenError(AuthServiceException):
    code, status = "refresh_token_error", 401
    default_description = "Token refresh failed: invalid or expired refresh_token"


class LoginFailed(AuthServiceException):
    code, status = "login_failed", 400
    default_description = "Login failed"
