"""The process-wide resources the app's lifespan opens and every capability receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx
from prometheus_client import CollectorRegistry

from tokend.cache import Locks, TieredCache
from tokend.config import Settings
from tokend.core.clock import Clock
from tokend.core.errors import ServiceUnavailable
from tokend.core.keys import Keyring
from tokend.jobs.base import Jobs
from tokend.store.engine import Database

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Resources:
    settings: Settings
    database: Database
    cache: TieredCache
    locks: Locks
    keyring: Keyring
    jobs: Jobs
    http: httpx.AsyncClient
    metrics: CollectorRegistry
    clock: Clock


class Late(Generic[T]):
    """A value a capability's lifespan builds from the resources and clears on shutdown.

    Routes are declared before the lifespan runs, so they take ``late.get``; a request that
    arrives while the app is starting or stopping gets a 503 rather than a crash.
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
