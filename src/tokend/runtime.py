"""What a capability is built from and what it hands back: the contract between ``app.py`` and
the capabilities, below both so that neither imports the other.

A capability's ``build(block, runtime)`` gets its own settings block and a :class:`Runtime`: the
facts of the deployment it runs in (:class:`Site`), where it is mounted, the metrics registry and
the clock now, and the process's :class:`Resources` once the app's lifespan has opened them. It
returns a :class:`Capability`: routes, jobs, banner lines, health details and one lifespan.

The one wiring pattern: routes and jobs are declared in ``build``; whatever needs the resources
is built by the capability's ``lifespan(resources)`` and reached through a :class:`Late` (a
request that arrives while the app is starting or stopping gets a 503). ``tokend serve`` and
``tokend worker`` enter the same lifespans, so a job finds what a request finds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from tokend.cache.lock import Locks
from tokend.cache.tiered import TieredCache
from tokend.core.admin_auth import AdminPolicy
from tokend.core.clock import Clock
from tokend.core.crypto import FieldCipher, SecretHasher
from tokend.core.errors import ServiceUnavailable
from tokend.core.http import GuardedClient
from tokend.core.keys import Keyring
from tokend.core.revocations import Revocations
from tokend.jobs.base import Jobs, JobSpec
from tokend.site import Site
from tokend.store.engine import Database

T = TypeVar("T")
B_contra = TypeVar("B_contra", contravariant=True)


class ConfigurationError(ValueError):
    """Settings that validate one by one but cannot work together, found by a capability's
    ``build``; the CLI prints the message and exits 2, like any other bad configuration."""


@dataclass(frozen=True, slots=True)
class Resources:
    """What the app's lifespan opens once per process and every capability receives."""

    database: Database
    cache: TieredCache
    locks: Locks
    keyring: Keyring
    cipher: FieldCipher
    hasher: SecretHasher
    jobs: Jobs
    #: The process's one outbound HTTP client: every call checked against the outbound policy
    #: (``TOKEND_HTTP__*``), no redirects followed, answers bounded; explicit timeouts per call.
    http: GuardedClient
    metrics: CollectorRegistry
    clock: Clock
    #: The deny-list of tokend's access tokens (``core.revocations``): the OpenID provider
    #: writes it; the admin policy, the vault and the guard read it.
    revocations: Revocations


class ResourceSlot:
    """The process's resources once the lifespan has opened them; shared by every Runtime."""

    __slots__ = ("_resources",)

    def __init__(self) -> None:
        self._resources: Resources | None = None

    def set(self, resources: Resources | None) -> None:
        self._resources = resources

    def get(self) -> Resources:
        if self._resources is None:
            raise ServiceUnavailable("tokend is starting or stopping")
        return self._resources


@dataclass(frozen=True, slots=True)
class Runtime:
    """What one capability's ``build`` gets besides its settings block."""

    #: The capability's name (``oidc``, ``broker``, ...).
    name: str
    site: Site
    #: Where the capability is mounted: its own prefix in the all-in-one app, ``""`` alone.
    prefix: str
    #: The app's Prometheus registry; capabilities register their metrics on it in ``build``.
    metrics: CollectorRegistry
    clock: Clock
    slot: ResourceSlot = field(default_factory=ResourceSlot, repr=False)

    @property
    def alone(self) -> bool:
        """Whether this capability is the only one the process serves (its seed's paths)."""
        return self.site.modules == (self.name,)

    @property
    def base_url(self) -> str:
        """Where this capability answers on this server."""
        return self.site.self_url + self.prefix

    @property
    def resources(self) -> Resources:
        """The opened resources; 503 while the app is starting or stopping."""
        return self.slot.get()

    def admin_policy(self, *static_tokens: SecretStr | None) -> AdminPolicy:
        """The one admin policy (``core.admin_auth``) for this deployment: the site's admin
        token and ``static_tokens``, or an access token of this issuer for the admin audience
        that the deny-list (``Resources.revocations``) does not name."""
        return AdminPolicy(
            static_tokens=(self.site.admin_token, *static_tokens),
            issuer=self.site.issuer,
            keys=lambda: self.resources.keyring,
            clock=self.clock,
            leeway_s=self.site.keys.leeway_s,
            revocations=lambda: self.resources.revocations,
        )


class Operations:
    """The services behind a capability's admin API, for the operator console
    (:mod:`tokend.console`): each reached through a getter (usually a :class:`Late`'s ``get``,
    so a 503 while the app starts or stops) and found by the service's type."""

    __slots__ = ("_getters",)

    def __init__(self, *getters: tuple[type, Callable[[], object]]) -> None:
        self._getters: dict[type, Callable[[], object]] = dict(getters)

    def find(self, kind: type[T]) -> Callable[[], T] | None:
        """The getter of the ``kind`` service, or None when the capability offers none."""
        getter = self._getters.get(kind)
        if getter is None:
            return None

        def typed() -> T:
            value = getter()
            if not isinstance(value, kind):  # a wiring mistake, not a request's
                raise TypeError(f"{kind.__name__} expected, got {type(value).__name__}")
            return value

        return typed


@dataclass(frozen=True, slots=True)
class Capability:
    """What a capability's ``build`` hands back to be mounted."""

    name: str
    #: Mounted at the runtime's prefix.
    router: APIRouter | None = None
    jobs: tuple[JobSpec, ...] = ()
    #: Lines for the start-up banner (URLs, demo credentials).
    banner: tuple[str, ...] = ()
    #: Entered once the resources are open (build services, load files, start watchers);
    #: exited on shutdown. ``tokend worker`` enters it too.
    lifespan: Callable[[Resources], AbstractAsyncContextManager[None]] | None = None
    #: Extra members of the ``GET /health`` body (e.g. an upstream breaker's state).
    health: Callable[[], Mapping[str, object]] | None = None
    #: The whole ``GET /health`` answer (status code, body) in its seed's shape; used when the
    #: capability is the only one the process serves (``tokend serve --only NAME``).
    seed_health: Callable[[], Awaitable[tuple[int, Mapping[str, object]]]] | None = None
    #: The services its admin API runs on, which the operator console calls too.
    operations: Operations = field(default_factory=Operations)


class Build(Protocol[B_contra]):
    """A capability's ``build``: its settings block and the runtime in, a Capability out."""

    def __call__(self, block: B_contra, runtime: Runtime, /) -> Capability: ...


class Late(Generic[T]):
    """A value a capability's lifespan builds from the resources and clears on shutdown.

    Routes and jobs are declared before the lifespan runs, so they take ``late.get``; a request
    that arrives while the app is starting or stopping gets a 503 rather than a crash.
    """

    __slots__ = ("_value", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._value: T | None = None

    def set(self, value: T | None) -> None:
        self._value = value

    def get(self) -> T:
        if self._value is None:
            raise ServiceUnavailable(f"{self._what} is starting or stopping")
        return self._value
