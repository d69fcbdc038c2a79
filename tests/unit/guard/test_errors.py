"""The seed-002 exception family inside tokend's hierarchy."""

from __future__ import annotations

import pytest

from tokend.core.errors import TokendError
from tokend.guard import (
    AuthServiceException,
    InsufficientPermissionsError,
    JWKSFetchError,
    KeycloakConnectionError,
    RefreshTokenError,
    TokenExpiredError,
    TokenValidationError,
    UserNotFoundError,
)
from tokend.guard.errors import bearer_challenge


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (AuthServiceException(), "AUTH_ERROR", 400),
        (TokenValidationError(), "TOKEN_INVALID", 401),
        (TokenExpiredError(), "TOKEN_EXPIRED", 401),
        (InsufficientPermissionsError(), "INSUFFICIENT_PERMISSIONS", 403),
        (KeycloakConnectionError(), "KEYCLOAK_CONNECTION_ERROR", 503),
        (JWKSFetchError(), "JWKS_FETCH_ERROR", 503),
        (UserNotFoundError(), "USER_NOT_FOUND", 404),
        (RefreshTokenError(), "REFRESH_TOKEN_ERROR", 401),
    ],
)
def test_each_exception_carries_the_seed_code_and_status(
    error: AuthServiceException, code: str, status: int
) -> None:
    assert isinstance(error, TokendError)
    assert (error.error_code, error.status_code) == (code, status)
    assert error.message == error.description
    assert error.details == {}


def test_seed_constructor_shapes_are_accepted() -> None:
    denied = InsufficientPermissionsError(required="admin")
    assert denied.message == "Required permission: admin"
    assert denied.details == {"required": "admin"}
    invalid = TokenValidationError(
        message="Invalid token signature", details={"token_type": "access_token"}
    )
    assert (invalid.message, invalid.details) == (
        "Invalid token signature",
        {"token_type": "access_token"},
    )
    assert UserNotFoundError("u-1").details == {"user_id": "u-1"}


def test_challenge_parameters_cannot_break_out_of_their_quotes() -> None:
    header = bearer_challenge('re"alm', "invalid_token", 'bad "token"\\\n')
    assert header["WWW-Authenticate"] == (
        'Bearer realm="realm", error="invalid_token", error_description="bad token"'
    )
