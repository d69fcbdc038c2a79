"""Request and response bodies of the seed-001 API (field names and limits as the seed has them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from tokend.core.outbound import outbound_url


def _absolute_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError("must be an absolute http(s) URL without a fragment")
    return value


#: Row ids are 32-bit on every engine; a larger number can name no row (and must not reach SQL).
MAX_ID = 2**31 - 1
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Database id")]
Url = Annotated[str, Field(max_length=1024), AfterValidator(_absolute_url)]
#: A URL tokend calls (issuer, webhook): the service checks it against the outbound policy too.
OutboundUrl = Annotated[str, Field(max_length=1024), AfterValidator(outbound_url)]
# A plain shape check: the seed only stores the address, it never mails it.
Email = Annotated[str, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
ProviderName = Annotated[str, Field(min_length=1, max_length=64)]


class ClientCreate(BaseModel):
    """Seed ``POST /clients``: the OAuth app, and optionally its first branch."""

    model_config = ConfigDict(extra="ignore")

    client_id: str = Field(min_length=1, max_length=255)
    client_secret: str = Field(min_length=1, max_length=512, repr=False)
    redirect_uri: Url
    provider: ProviderName = "google"
    issuer: OutboundUrl | None = None
    scopes: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    webhook_url: OutboundUrl | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=512, repr=False)
    is_active: bool = True
    branch_id: str | None = Field(default=None, min_length=1, max_length=255)
    workspace_email: Email | None = None
    workspace_name: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> ClientCreate:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError("webhook_url needs a webhook_secret (at least 16 characters)")
        return self


class ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    client_secret: str | None = Field(default=None, min_length=1, max_length=512, repr=False)
    redirect_uri: Url | None = None
    provider: ProviderName | None = None
    issuer: OutboundUrl | None = None
    scopes: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = None
    webhook_url: OutboundUrl | None = None
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=512, repr=False)
    is_active: bool | None = None


class ClientCreated(BaseModel):
    success: bool = True
    message: str = "Client created successfully"
    client_id: int
    client_oauth_id: str
    provider: str
    branch_id: int | None
    branch_identifier: str | None
    email: str | None
    workspace_name: str | None
    redirect_uri: str
    created_at: datetime


class ClientOut(BaseModel):
    """A client as the API shows it: never its secrets."""

    id: int
    client_id: str
    provider: str
    issuer: str | None
    redirect_uri: str
    scopes: list[str]
    webhook_url: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class BranchCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    branch_id: str = Field(min_length=1, max_length=255)
    client_id: DbId
    branch_name: str | None = Field(default=None, max_length=255)
    email: Email | None = None
    description: str | None = Field(default=None, max_length=4000)
    account_id: str | None = Field(default=None, max_length=255)
    location_id: str | None = Field(default=None, max_length=255)
    is_active: bool = True


class BranchUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    branch_name: str | None = Field(default=None, max_length=255)
    email: Email | None = None
    description: str | None = Field(default=None, max_length=4000)
    account_id: str | None = Field(default=None, max_length=255)
    location_id: str | None = Field(default=None, max_length=255)
    is_active: bool | None = None


class BranchOut(BaseModel):
    id: int
    branch_id: str
    client_id: int
    branch_name: str | None
    email: str | None
    description: str | None
    account_id: str | None
    location_id: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class Deleted(BaseModel):
    success: bool = True
    message: str


class OAuthStart(BaseModel):
    auth_url: str
    state: str


class RefreshRequest(BaseModel):
    """Seed code sends ``client_id``, seed docs ``client_internal_id``: both name the db id."""

    model_config = ConfigDict(extra="ignore")

    client_id: DbId | None = None
    client_internal_id: DbId | None = None

    @model_validator(mode="after")
    def _one_id(self) -> RefreshRequest:
        if self.client_id is None and self.client_internal_id is None:
            raise ValueError("client_id is required")
        return self

    @property
    def client_pk(self) -> int:
        value = self.client_id if self.client_id is not None else self.client_internal_id
        assert value is not None
        return value


class Validation(BaseModel):
    is_valid: bool
    access_token: str | None = None
    expires_at: datetime | None = None
    message: str


class Refreshed(BaseModel):
    success: bool = True
    message: str = "Token refreshed successfully"
    client_id: int
    access_token: str
    expires_at: datetime | None
    token_type: str


class BranchToken(BaseModel):
    """Seed 001 (code) ``GET /tokens/{branch_id}``; ``refresh_token`` is never exposed."""

    success: bool = True
    message: str = "Token retrieved successfully"
    client_id: int
    branch_id: str
    access_token: str
    refresh_token: None = None
    expires_at: datetime | None
    token_type: str


class TokenMetadata(BaseModel):
    """``GET /tokens/client/{id}``: what is stored, never the tokens themselves."""

    client_id: int
    token_type: str
    scope: str | None
    expires_at: datetime | None
    is_valid: bool
    is_revoked: bool
    status: str
    has_refresh_token: bool
    failure_count: int
    last_error: str | None
    last_refreshed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Revoked(BaseModel):
    success: bool = True
    message: str = "Tokens revoked successfully"
    client_id: int
    revoked_at_provider: bool
