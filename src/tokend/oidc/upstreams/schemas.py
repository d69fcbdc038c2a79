"""An upstream identity provider as the admin API and ``tokend upstreams`` take it: the fields
of ``oidc.upstreams``, and changes merged into a stored one, checked as the settings check it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tokend.core.errors import ValidationFailed
from tokend.oidc.settings import UpstreamKind, UpstreamSettings

_SECRET_MAX = 500
_Scopes = list[Annotated[str, Field(min_length=1, max_length=100)]]


class UpstreamCreate(UpstreamSettings):
    """An upstream as ``oidc.upstreams`` takes it (the client secret is never shown again)."""

    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr = Field(min_length=1, max_length=_SECRET_MAX)


class UpstreamChanges(BaseModel):
    """The fields to change (JSON merge: a field left out keeps its value; ``client_secret``
    left out keeps the stored secret)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: UpstreamKind | None = None
    issuer: str | None = None
    api_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = Field(default=None, min_length=1, max_length=_SECRET_MAX)
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    scopes: _Scopes | None = Field(default=None, max_length=20)
    link_by_verified_email: bool | None = None
    create_accounts: bool | None = None
    acr_map: dict[str, str] | None = Field(default=None, max_length=20)
    amr_map: dict[str, str] | None = Field(default=None, max_length=20)
    default_amr: list[str] | None = Field(default=None, max_length=10)


def changed_upstream(current: UpstreamSettings, changes: UpstreamChanges) -> UpstreamSettings:
    """``current`` with ``changes`` merged in, checked as the settings check an upstream."""
    merged = {**current.model_dump(), **changes.model_dump(exclude_unset=True)}
    if merged.get("client_secret") is None:
        merged["client_secret"] = current.client_secret
    try:
        return UpstreamSettings.model_validate(merged)
    except ValidationError as exc:
        # The errors name fields and rules only: the input (a secret, maybe) is left out.
        reasons = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ValidationFailed(reasons) from None
