"""Which kind of deployment this process is part of."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    DEMO = "demo"
    DEVELOPMENT = "development"
    PRODUCTION = "production"
