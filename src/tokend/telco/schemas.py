"""The operator role's wire types (seed 000 telco service)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


def iso_utc(moment: datetime) -> str:
    """Seed 000 TokenDTO datetimes: ISO-8601 UTC with a ``Z`` (pydantic's rendering)."""
    return moment.isoformat().replace("+00:00", "Z")


class TokenResponse(BaseModel):
    """Seed 000 telco TokenDTO."""

    access_token: str
    grant_type: Literal["client_credentials"] = "client_credentials"
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a token type)
    iat: datetime
    exp: datetime


class SeedError(BaseModel):
    detail: str


class OneTimeCodeResponse(BaseModel):
    auth_code: str
    expires_in: int
