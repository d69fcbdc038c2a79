"""The process-wide resources the app's lifespan opens and every capability receives."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry

from tokend.cache import Locks, TieredCache
from tokend.config import Settings
from tokend.core.clock import Clock
from tokend.core.keys import Keyring
from tokend.jobs.base import Jobs
from tokend.store.engine import Database


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
