"""What every capability may know about the deployment it is part of.

Kept free of heavy imports: the settings (``tokend.config``) build a :class:`Site` and must load
no framework, database or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from tokend.core.environment import Environment
from tokend.core.outbound import OutboundPolicy
from tokend.core.settings import KeysSettings


@dataclass(frozen=True, slots=True)
class SecretKeys:
    """The server's secret key and the former ones still accepted; never printed."""

    current: str = field(repr=False)
    previous: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class Site:
    """What every capability may know about the deployment it is part of."""

    env: Environment
    issuer: str
    #: ``tokend serve --demo``: demo data, auto-migration, demo credentials in the banner.
    demo: bool
    #: The capabilities this process serves, in mount order.
    modules: tuple[str, ...]
    #: Where this server answers itself (loopback for a bind-all address).
    self_url: str
    keys: KeysSettings
    secrets: SecretKeys
    #: The operator token for admin surfaces (``TOKEND_ADMIN_TOKEN``); None: none configured.
    admin_token: SecretStr | None = None
    #: OpenTelemetry export is configured.
    tracing: bool = False
    #: What outbound calls may reach (``TOKEND_HTTP__*``, plus the demo's own address): for
    #: checking URLs when they are configured; the guarded client checks them again on use.
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    #: Redis is configured (the memory tier alone otherwise), and the key prefix on it.
    has_redis: bool = False
    redis_key_prefix: str = "tokend:"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION
