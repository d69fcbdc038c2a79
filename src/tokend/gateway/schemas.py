"""Response bodies of the gateway's HTTP surfaces (OpenAPI documentation and admin API)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    """Seed 004 ``GET /tokens``."""

    access_token: str
    expires_in: int = Field(examples=[900])


class ValidationResponse(BaseModel):
    """Seed 004 ``GET /tokens/validate``."""

    valid: bool
    tokenId: object
    subject: object
    issuer: object
    audience: object
    issuedAt: str
    expiresAt: str
    expiresIn: int


class AuthProblem(BaseModel):
    """Seed 004 RFC 7807 error body."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    requestId: str
    timestamp: str
    extensions: dict[str, object] | None = None


class ConsumerCreate(BaseModel):
    username: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._@-]+$")


class ConsumerCreated(BaseModel):
    """Shown once: only the hash of the API key is kept."""

    consumer_id: str
    username: str
    api_key: str


class ConsumerView(BaseModel):
    consumer_id: str
    username: str
    key: str
    created_at: datetime
    revoked_at: datetime | None
