"""The providers catalog: ``providers.yaml`` beside this module, merged with an override file.

Loaded once at start-up and validated as a whole; a bad entry stops start-up with every problem
listed. Adding a provider is a YAML entry, no code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILT_IN: Final = Path(__file__).with_name("providers.yaml")
_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"

TokenAuthMethod = Literal["client_secret_post", "client_secret_basic"]


class CatalogError(ValueError):
    """The catalog cannot be used; the message lists every problem found."""


def _https_or_local(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    is_local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_local):
        raise ValueError("must be an https URL (http only for localhost)")
    if not parts.netloc or parts.fragment:
        raise ValueError("must be an absolute URL without a fragment")
    return value


class _RefreshEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rotates: bool = False
    default_expires_in_s: int | None = Field(default=3600, ge=1)


class _ProviderEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str = Field(min_length=1)
    discovery: bool = False
    authorization_url: str | None = None
    token_url: str | None = None
    revocation_url: str | None = None
    default_scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    authorize_params: dict[str, str] = Field(default_factory=dict)
    token_auth_method: TokenAuthMethod = "client_secret_post"  # noqa: S105  (a method name)
    pkce: bool = True
    refresh: _RefreshEntry = Field(default_factory=_RefreshEntry)

    _urls = field_validator("authorization_url", "token_url", "revocation_url")(_https_or_local)

    @field_validator("authorize_params")
    @classmethod
    def _no_protocol_params(cls, value: dict[str, str]) -> dict[str, str]:
        # These are set by the flow itself; a catalog entry must not be able to replace them.
        reserved = {"client_id", "redirect_uri", "response_type", "state", "scope"}
        clash = sorted(reserved & set(value) | {k for k in value if k.startswith("code_")})
        if clash:
            raise ValueError(f"reserved parameter(s) {', '.join(clash)}")
        return value

    @model_validator(mode="after")
    def _endpoints_or_discovery(self) -> _ProviderEntry:
        if not self.discovery and (self.authorization_url is None or self.token_url is None):
            raise ValueError("needs authorization_url and token_url, or discovery: true")
        return self


@dataclass(frozen=True, slots=True)
class Provider:
    """One catalog entry. With ``discovery``, the URLs come from the client's issuer."""

    name: str
    display_name: str
    authorization_url: str | None
    token_url: str | None
    revocation_url: str | None
    default_scopes: tuple[str, ...]
    scope_separator: str
    authorize_params: Mapping[str, str] = field(repr=False)
    token_auth_method: TokenAuthMethod
    supports_pkce: bool
    uses_discovery: bool
    rotates_refresh_token: bool
    default_expires_in_s: int | None


@dataclass(frozen=True, slots=True)
class Catalog:
    providers: Mapping[str, Provider]
    sources: tuple[str, ...]

    def get(self, name: str) -> Provider | None:
        return self.providers.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.providers)

    def with_provider(self, provider: Provider) -> Catalog:
        """This catalog plus ``provider`` (built in code, like the demo provider)."""
        merged = {**self.providers, provider.name: provider}
        return Catalog(MappingProxyType(merged), (*self.sources, f"<{provider.name}>"))


def load_catalog(override: Path | None = None) -> Catalog:
    """The built-in catalog with ``override``'s entries merged over it (by provider name)."""
    raw = dict(_read(BUILT_IN))
    sources = [str(BUILT_IN)]
    if override is not None:
        raw.update(_read(override))
        sources.append(str(override))
    return Catalog(MappingProxyType(parse_entries(raw)), tuple(sources))


def parse_entries(raw: Mapping[str, object]) -> dict[str, Provider]:
    """Validate every entry; raise :class:`CatalogError` listing all problems at once."""
    problems: list[str] = []
    providers: dict[str, Provider] = {}
    for name, body in raw.items():
        if not isinstance(name, str) or not _valid_name(name):
            problems.append(f"{name!r}: provider names are lowercase letters, digits, - and _")
            continue
        try:
            entry = _ProviderEntry.model_validate(body)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "entry"
                problems.append(f"{name}.{where}: {err['msg']}")
            continue
        providers[name] = _provider(name, entry)
    if problems:
        raise CatalogError("invalid providers catalog:\n  " + "\n  ".join(problems))
    return providers


def _valid_name(name: str) -> bool:
    return re.fullmatch(_NAME_PATTERN, name) is not None


def _provider(name: str, entry: _ProviderEntry) -> Provider:
    return Provider(
        name=name,
        display_name=entry.display_name,
        authorization_url=entry.authorization_url,
        token_url=entry.token_url,
        revocation_url=entry.revocation_url,
        default_scopes=tuple(entry.default_scopes),
        scope_separator=entry.scope_separator,
        authorize_params=MappingProxyType(dict(entry.authorize_params)),
        token_auth_method=entry.token_auth_method,
        supports_pkce=entry.pkce,
        uses_discovery=entry.discovery,
        rotates_refresh_token=entry.refresh.rotates,
        default_expires_in_s=entry.refresh.default_expires_in_s,
    )


def _read(path: Path) -> Mapping[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read providers file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"providers file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"providers file {path} must hold a mapping of provider entries")
    return data
