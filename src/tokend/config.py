"""Settings: the one place that reads the environment.

Sources, highest priority first: keyword arguments (the CLI's flags), ``TOKEND_*`` environment
variables (nested blocks split by ``__``, e.g. ``TOKEND_DATABASE__URL``), a ``.env`` file, a
YAML or TOML config file (``--config`` / ``TOKEND_CONFIG_FILE``), then the defaults below.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tokend.broker.settings import DIRECTORY_SECRET_PREFIX, BrokerSettings
from tokend.cache.settings import CacheSettings, RedisSettings
from tokend.console.settings import ConsoleSettings
from tokend.core.environment import Environment
from tokend.core.outbound import OutboundPolicy
from tokend.core.settings import HttpSettings, KeysSettings
from tokend.gateway.settings import GatewaySettings
from tokend.guard.settings import GuardSettings
from tokend.jobs.settings import JobsSettings
from tokend.obs.settings import LogSettings, MetricsSettings, OtelSettings
from tokend.oidc.settings import CLIENT_TOKEN_TTL_MAX_S, FAPI_ALGORITHMS, OidcSettings
from tokend.server.settings import ServerSettings
from tokend.site import SecretKeys, Site
from tokend.store.settings import DatabaseSettings
from tokend.telco.settings import TelcoSettings
from tokend.vault.settings import VaultSettings

#: Capabilities ``create_app`` can mount, in mount order.
MODULE_NAMES: tuple[str, ...] = ("oidc", "broker", "telco", "vault", "gateway", "guard")

#: Used when no secret key is configured outside production. Never accepted in production.
INSECURE_DEV_SECRET_KEY = "tokend-insecure-development-secret-key-change-me"  # noqa: S105  (refused in production)
MIN_SECRET_KEY_LENGTH = 32
#: Static bearer tokens (admin, metrics, code issuer) are at least this long in production.
MIN_TOKEN_LENGTH = 32
#: Words of a value someone meant to replace, as in every value this repository publishes (the
#: development key above, the placeholders once committed under deploy/envs): whoever read them
#: holds them, so production refuses them whatever their length.
_PLACEHOLDER_WORDS = ("placeholder", "change-me", "changeme", "replace-me", "replaceme")
#: How to make a value production accepts, named in every refusal.
_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


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
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    telco: TelcoSettings = Field(default_factory=TelcoSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

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

    @model_validator(mode="after")
    def _metrics_port_serves_one_process(self) -> Settings:
        port = self.metrics.port
        if port is not None and port == self.server.port:
            raise ValueError("metrics.port must differ from server.port")
        if port is not None and self.server.workers > 1:
            raise ValueError(
                "metrics.port serves one process's metrics: with server.workers > 1 set "
                "metrics.token instead (or run one worker per replica)"
            )
        return self

    @model_validator(mode="after")
    def _directory_secrets_from_the_environment(self) -> Settings:
        """The broker directory's ``${TOKEND_TELCO_SECRET_*}`` values: read here, where every
        setting is read, and only these: the file can name no other variable."""
        found = {
            name: SecretStr(value)
            for name, value in os.environ.items()
            if name.startswith(DIRECTORY_SECRET_PREFIX) and value
        }
        if found:
            secrets = {**self.broker.directory_secrets, **found}
            self.broker = self.broker.model_copy(update={"directory_secrets": secrets})
        return self

    @model_validator(mode="after")
    def _fapi_signs_with_fapi_algorithms(self) -> Settings:
        """FAPI 2.0 SP §5.4.1-1 applies to the provider's own signatures too: ID tokens, JARM
        and JWT introspection responses are signed with the ID-token key."""
        if self.oidc.fapi2 and self.keys.id_token_alg not in FAPI_ALGORITHMS:
            raise ValueError(
                f"oidc.fapi2 needs keys.id_token_alg ES256 or EdDSA (FAPI 2.0 SP §5.4.1 allows "
                f"PS256, ES256 and EdDSA signatures), not {self.keys.id_token_alg}"
            )
        return self

    @model_validator(mode="after")
    def _retention_outlives_signed_tokens(self) -> Settings:
        chosen, shortest = self.keys.retired_retention_s, self.min_retired_retention_s()
        if chosen is not None and chosen < shortest:
            longest = max(self.signed_token_lifetimes_s().items(), key=lambda item: item[1])
            raise ValueError(
                f"keys.retired_retention_s ({chosen}) must be at least {shortest} s: tokens signed "
                f"by a retired key live up to {longest[1]} s ({longest[0]}), plus leeway and the "
                "keyring refresh interval; leave it unset for that minimum"
            )
        return self

    def signed_token_lifetimes_s(self) -> dict[str, int]:
        """The longest lifetime of each kind of token the keyring may sign, by setting name.

        Every block counts, enabled here or not and whatever its algorithm: replicas sharing the
        keyring may run other modules (``--only broker``) with their own settings. OIDC refresh
        tokens are opaque (stored hashes), so their lifetime does not count.
        """
        return {
            "oidc.access_token_ttl_s": self.oidc.access_token_ttl_s,
            "oidc.id_token_ttl_s": self.oidc.id_token_ttl_s,
            "a client's access/ID token lifetime": CLIENT_TOKEN_TTL_MAX_S,
            "broker.token_ttl_s": self.broker.token_ttl_s,
            "telco.token_ttl_s": self.telco.token_ttl_s,
            "gateway.token_ttl_s": self.gateway.token_ttl_s,
        }

    def min_retired_retention_s(self) -> int:
        """How long a retired key may still have signed a token that verifies.

        The longest signed-token lifetime, plus the largest leeway a verifier in tokend grants
        on ``exp``, plus one keyring refresh interval: a replica that has not refreshed yet
        still signs with a key another replica (or ``tokend keys``) just retired.
        """
        leeway_s = max(self.keys.leeway_s, self.guard.leeway_s)
        refresh_s = math.ceil(self.keys.refresh_interval_s)
        return max(self.signed_token_lifetimes_s().values()) + leeway_s + refresh_s

    def retired_key_retention_s(self) -> int:
        """``keys.retired_retention_s``, or its minimum when unset."""
        chosen = self.keys.retired_retention_s
        return chosen if chosen is not None else self.min_retired_retention_s()

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

    def secret_keys(self) -> SecretKeys:
        """The effective secret key and the former ones, for ciphers and hashers."""
        return SecretKeys(
            self.effective_secret_key(),
            tuple(key.get_secret_value() for key in self.previous_secret_keys),
        )

    def outbound_allowances(self) -> tuple[str, ...]:
        """What the deployment adds to ``TOKEND_HTTP__ALLOW_HOSTS`` itself: in demo mode only,
        this server's own address (the demo's operators and vault provider run in-process and
        are called over loopback). Production never allows anything implicitly (it refuses
        demo data)."""
        if not self.demo_data:
            return ()
        return (urlsplit(self.server.self_url).netloc,)

    def site(self) -> Site:
        """What every capability may know of this deployment."""
        return Site(
            env=self.env,
            issuer=self.issuer,
            demo=self.demo_data,
            modules=tuple(self.modules),
            self_url=self.server.self_url,
            keys=self.keys,
            secrets=self.secret_keys(),
            admin_token=self.admin_token,
            tracing=self.otel.endpoint is not None,
            outbound=OutboundPolicy.of(self.http, self.outbound_allowances()),
            has_redis=self.redis.url is not None,
            redis_key_prefix=self.redis.key_prefix,
        )

    @property
    def has_landing_page(self) -> bool:
        """``/`` says what this server is: in demo mode, or when ``console.landing`` says so."""
        return self.demo_data if self.console.landing is None else self.console.landing

    @property
    def has_api_docs(self) -> bool:
        """``/docs`` and ``/openapi.json`` are served: as set, or everywhere but production."""
        chosen = self.server.api_docs
        return chosen if chosen is not None else not self.is_production

    def production_problems(self) -> list[str]:
        """One line per reason this configuration must not serve production traffic."""
        if not self.is_production:
            return []
        problems: list[str] = []
        key = self.secret_key.get_secret_value() if self.secret_key else ""
        if not key:
            problems.append("TOKEND_SECRET_KEY is not set (use at least 32 random characters)")
        else:
            problems.extend(_weak_secret("TOKEND_SECRET_KEY", key, MIN_SECRET_KEY_LENGTH))
        for name, token, min_length in self._bearer_tokens():
            problems.extend(_weak_secret(name, token.get_secret_value(), min_length))
        parts = urlsplit(self.issuer)
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            problems.append(f"TOKEND_ISSUER must use https in production (got {self.issuer})")
        if self.demo_data:
            problems.append("demo data cannot be loaded in production (drop --demo)")
        problems.extend(self._guard_issuer_problems())
        if self.metrics.port is None and self.metrics.token is None:
            problems.append(
                "TOKEND_METRICS__PORT or TOKEND_METRICS__TOKEN must be set in production: "
                "/metrics on the API's port would be open to anyone"
            )
        problems.extend(self.oidc.accounts.argon2_problems())
        problems.extend(self.guard.production_problems())
        problems.extend(self.gateway.production_problems())
        problems.extend(self.vault.production_problems())
        return problems

    def _bearer_tokens(self) -> list[tuple[str, SecretStr, int]]:
        """The static bearer tokens that are set, with the length production requires."""
        tokens = [
            ("TOKEND_ADMIN_TOKEN", self.admin_token, MIN_TOKEN_LENGTH),
            ("TOKEND_BROKER__ADMIN_TOKEN", self.broker.admin_token, MIN_TOKEN_LENGTH),
            ("TOKEND_GATEWAY__ADMIN_TOKEN", self.gateway.admin_token, MIN_TOKEN_LENGTH),
            ("TOKEND_VAULT__API_TOKEN", self.vault.api_token, MIN_TOKEN_LENGTH),
            ("TOKEND_TELCO__CODE_ISSUER_TOKEN", self.telco.code_issuer_token, MIN_TOKEN_LENGTH),
            ("TOKEND_METRICS__TOKEN", self.metrics.token, MIN_TOKEN_LENGTH),
        ]
        return [(name, token, length) for name, token, length in tokens if token is not None]

    def _guard_issuer_problems(self) -> list[str]:
        """An issuer's discovery and keys fetched over plain http can be swapped on the way, and
        then any token verifies; its URLs must be https (loopback aside, as for Keycloak's)."""
        problems = []
        for index, issuer in enumerate(self.guard.issuers):
            urls = (issuer.issuer, issuer.discovery_url, issuer.jwks_uri)
            plain = [url for url in urls if url is not None and _is_plain_http(url)]
            if plain:
                problems.append(
                    f"TOKEND_GUARD__ISSUERS[{index}] must use https in production "
                    f"(got {', '.join(dict.fromkeys(plain))})"
                )
        return problems


_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def _is_plain_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme != "https" and parts.hostname not in _LOCAL_HOSTS


def _weak_secret(name: str, value: str, min_length: int) -> list[str]:
    """Why ``value`` is no secret to serve production with; one line, or none."""
    lowered = value.lower()
    if value == INSECURE_DEV_SECRET_KEY or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return [
            f"{name} is published (a development key or a placeholder); generate one: {_GENERATE}"
        ]
    if len(value) < min_length:
        return [f"{name} is too weak (at least {min_length} random characters; {_GENERATE})"]
    if len(set(value)) < 8:
        return [f"{name} is too weak (too few distinct characters; {_GENERATE})"]
    return []


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


#: Environment variable naming the file through which ``tokend serve`` hands its Settings to
#: its worker processes (``tokend.cli.handoff``); the settings themselves never enter the
#: environment.
HANDOFF_FILE_VARIABLE = "TOKEND_HANDOFF_FILE"


def dump_handoff(settings: Settings) -> str:
    """Settings as JSON with secrets revealed, for worker processes of the same server only."""
    return json.dumps(_reveal(settings.model_dump(mode="python")), default=str)


def load_handoff() -> Settings:
    """The Settings a parent ``tokend serve`` handed to this worker process."""
    path = os.environ.get(HANDOFF_FILE_VARIABLE)
    if path is None:
        raise RuntimeError(f"{HANDOFF_FILE_VARIABLE} is not set: start workers with `tokend serve`")
    return Settings.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value
