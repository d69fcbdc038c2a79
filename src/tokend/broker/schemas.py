"""Request and response bodies of the broker's HTTP surfaces."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tokend.broker.directory.entry import TelcoEntry


def iso_utc(moment: datetime) -> str:
    """Seed 000 TokenDTO datetimes: ISO-8601 UTC with a ``Z`` (pydantic's rendering)."""
    return moment.isoformat().replace("+00:00", "Z")


class TokenResponse(BaseModel):
    """Seed 000 TokenDTO."""

    access_token: str
    grant_type: Literal["client_credentials"] = "client_credentials"
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a token type)
    iat: datetime
    exp: datetime


class SeedError(BaseModel):
    detail: str


class SearchRequest(BaseModel):
    """GSMA Open Gateway Telco Finder search; only ``phoneNumber`` is supported here."""

    model_config = ConfigDict(extra="ignore")

    phoneNumber: str | None = Field(default=None, max_length=64, examples=["+972527464600"])


class SearchResponse(BaseModel):
    operatorId: str
    apiRoot: str
    authProviderConfiguration: dict[str, str]


class EntryView(BaseModel):
    """A directory entry as the admin API shows it: secrets only as ``${ENV}`` names or masked."""

    prefix: str
    operator_id: str
    name: str | None
    base_url: str
    token_url: str
    adapter: str
    auth_method: str
    grant_type: str
    scopes: list[str]
    timeout_s: float | None
    enabled: bool
    client_id: str
    client_secret: str | None
    private_key: str | None

    @classmethod
    def of(cls, entry: TelcoEntry) -> EntryView:
        def masked(source: str | None, env: str | None) -> str | None:
            if source is None:
                return None
            return f"${{{env}}}" if env else "********"

        secret, key = entry.client_secret, entry.private_key
        return cls(
            prefix=entry.prefix,
            operator_id=entry.operator_id,
            name=entry.name,
            base_url=entry.base_url,
            token_url=entry.token_url,
            adapter=entry.adapter,
            auth_method=entry.auth_method,
            grant_type=entry.grant_type,
            scopes=list(entry.scopes),
            timeout_s=entry.timeout_s,
            enabled=entry.enabled,
            client_id=entry.client_id,
            client_secret=masked(secret.source, secret.env_name) if secret else None,
            private_key=masked(key.source, key.env_name) if key else None,
        )


class DirectoryView(BaseModel):
    source: str
    entries: list[EntryView]


class ReloadResult(BaseModel):
    source: str
    entries: int


class OneTimeCodeResponse(BaseModel):
    auth_code: str
    expires_in: int
