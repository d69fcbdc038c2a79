"""Settings: the one place that reads the environment.

Sources, highest priority first: keyword arguments (the CLI's flags), ``TOKEND_*`` environment
variables (nested blocks split by ``__``, e.g. ``TOKEND_DATABASE__URL``), a ``.env`` file, a
YAML or TOML config file (``--config`` / ``TOKEND_CONFIG_FILE``), then the defaults below.
"""

from __future__ import annotations

import json
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tokend.broker.settings import BrokerSettings, TelcoSettings
from tokend.gateway.settings import GatewaySettings
from tokend.guard.settings import GuardSettings
from tokend.oidc.settings import OidcSettings
from tokend.vault.settings import VaultSettings

#: Capabilities ``create_app`` can mount, in mount order.
MODULE_NAMES: tuple[str, ...] = ("oidc", "broker", "telco", "vault", "gateway", "guard")

#: Used when no secret key is configured outside production. Never accepted in production.
INSECURE_DEV_SECRET_KEY = "tokend-insecure-development-secret-key-change-me"  # noqa: S105  (refused in production)
MIN_SECRET_KEY_LENGTH = 32


class ConfigurationError(ValueError):
    """Settings that validate one by one but cannot work together, found by a capability's
    ``build``; the CLI prints the message and exits 2, like any other bad configuration."""


class Environment(StrEnum):
    DEMO = "demo"
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///./var/tokend.db"
    #: Connections per process to PostgreSQL (SQLite always uses one: it has one writer).
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout_s: float = Field(default=10.0, gt=0)
    pool_recycle_s: int = Field(default=1800, ge=-1)
    echo: bool = False
    #: PostgreSQL schema to use (search_path); tests give each run its own.
    schema_name: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")


class RedisSettings(BaseModel):
    #: Unset: memory only (one process). Set: Redis behind an in-process memory tier.
    url: SecretStr | None = None
    key_prefix: str = "tokend:"
    socket_timeout_s: float = Field(default=0.5, gt=0)
    #: While Redis is down, how long to wait before trying it again.
    retry_interval_s: float = Field(default=2.0, gt=0)


class CacheSettings(BaseModel):
    memory_max_items: int = Field(default=50_000, ge=1)
    #: Upper bound on how long the memory tier keeps a value that also lives in Redis.
    memory_ttl_s: float = Field(default=5.0, gt=0)


class KeysSettings(BaseModel):
    access_token_alg: Literal["ES256", "RS256", "EdDSA"] = "ES256"  # noqa: S105  (an algorithm)
    id_token_alg: Literal["ES256", "RS256", "EdDSA"] = "RS256"  # noqa: S105  (an algorithm)
    #: Clock skew accepted on exp/nbf/iat.
    leeway_s: int = Field(default=30, ge=0, le=300)
    #: Cache-Control max-age of the JWKS document.
    jwks_max_age_s: int = Field(default=300, ge=0)
    #: How often each replica re-reads the keyring to pick up rotations made elsewhere.
    refresh_interval_s: float = Field(default=30.0, gt=0)


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: None picks console in demo/development on a terminal, JSON otherwise.
    format: Literal["json", "console"] | None = None
    access_log: bool = True


class OtelSettings(BaseModel):
    #: OTLP/HTTP endpoint, e.g. http://tempo:4318. Unset: no tracing.
    endpoint: str | None = None
    service_name: str = "tokend"


class JobsSettings(BaseModel):
    #: ``auto``: the Redis queue when Redis is configured, in-process otherwise.
    backend: Literal["auto", "inprocess", "redis"] = "auto"
    queue_name: str = "tokend"
    concurrency: int = Field(default=10, ge=1)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=1.0, ge=0)
    #: Serve the queue monitor under /admin/jobs when the Redis queue is used.
    monitor: bool = True
    #: ``tokend worker`` serves its own /metrics (tokend_jobs_total) on this port; unset: none.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    #: Chosen by measurement, see README "Performance".
    server: Literal["uvicorn", "granian"] = "uvicorn"
    #: Body limit of a route that sets none (form and admin routes set smaller ones).
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    #: A request's head (line and headers) must arrive within this; the connection closes.
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: A request's body must arrive within this of the request's start (408).
    body_timeout_s: float = Field(default=30.0, gt=0)
    #: The largest request head accepted (431 beyond).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    #: How long an idle keep-alive connection is held.
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    #: Connections (uvicorn) or requests in flight (granian) per worker before new ones are
    #: answered 503 (uvicorn) or wait (granian).
    max_connections: int = Field(default=1000, ge=1)

    @property
    def self_url(self) -> str:
        """Where this server answers itself: loopback for a bind-all address, IPv6 bracketed.
        Demo data points here (the broker's operators, the vault's provider) and the banner."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104  (a bind-all address is not dialled)
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


class Settings(BaseSettings):
    """Everything tokend can be told. Built once by the CLI and passed down."""

    model_config = SettingsConfigDict(
        env_prefix="TOKEND_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Environment = Environment.DEVELOPMENT
    issuer: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    #: Former secret keys, still used to decrypt and verify what they protected.
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    modules: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(MODULE_NAMES))
    demo_data: bool = False
    #: Static bearer token of every admin surface (``/admin``, ``/admin/jobs``, the broker's,
    #: gateway's and vault's admin APIs), besides ``tokend:admin`` access tokens for the admin
    #: audience (``core.admin_auth``).
    admin_token: SecretStr | None = None
    config_file: Path | None = None

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    keys: KeysSettings = Field(default_factory=KeysSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    telco: TelcoSettings = Field(default_factory=TelcoSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)

    @field_validator("modules", "previous_secret_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("modules")
    @classmethod
    def _known_modules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(MODULE_NAMES))
        if unknown:
            raise ValueError(
                f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULE_NAMES)}"
            )
        return [name for name in MODULE_NAMES if name in value]

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment (RFC 8414 §2)")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _ConfigFileSource(settings_cls, init_settings, env_settings),
            file_secret_settings,
        )

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def effective_secret_key(self) -> str:
        """The configured key, or a fixed development key outside production."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.is_production:
            raise ValueError("TOKEND_SECRET_KEY is required in production")
        return INSECURE_DEV_SECRET_KEY

    def production_problems(self) -> list[str]:
        """One line per reason this configuration must not serve production traffic."""
        if not self.is_production:
            return []
        problems: list[str] = []
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            problems.append("TOKEND_SECRET_KEY is not set (use at least 32 random characters)")
        elif len(key) < MIN_SECRET_KEY_LENGTH or key == INSECURE_DEV_SECRET_KEY:
            problems.append(
                "TOKEND_SECRET_KEY is too weak "
                f"(at least {MIN_SECRET_KEY_LENGTH} random characters)"
            )
        elif len(set(key)) < 8:
            problems.append("TOKEND_SECRET_KEY is too weak (too few distinct characters)")
        parts = urlsplit(self.issuer)
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            problems.append(f"TOKEND_ISSUER must use https in production (got {self.issuer})")
        if self.demo_data:
            problems.append("demo data cannot be loaded in production (drop --demo)")
        problems.extend(self.guard.production_problems())
        problems.extend(self.gateway.production_problems())
        problems.extend(self.vault.production_problems())
        return problems


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the YAML or TOML file named by ``config_file`` (flag or environment)."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._init = init_settings
        self._env = env_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = self._init().get("config_file") or self._env().get("config_file")
        if not path:
            return {}
        return read_config_file(Path(path))


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML (.yaml/.yml) or TOML (.toml) settings file into a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"config file {path} is not valid: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level")
    return data


#: Environment variable through which ``tokend serve --workers N`` hands its Settings to workers.
HANDOFF_VARIABLE = "TOKEND_HANDOFF_SETTINGS"


def dump_handoff(settings: Settings) -> str:
    """Settings as JSON with secrets revealed, for worker processes of the same server only."""
    return json.dumps(_reveal(settings.model_dump(mode="python")), default=str)


def load_handoff() -> Settings:
    """The Settings a parent ``tokend serve`` handed to this worker process."""
    raw = os.environ.get(HANDOFF_VARIABLE)
    if raw is None:
        raise RuntimeError(f"{HANDOFF_VARIABLE} is not set: start workers with `tokend serve`")
    return Settings.model_validate(json.loads(raw))


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value
