"""Alembic, driven from code: ``tokend migrate`` and the demo mode's automatic upgrade."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from tokend.store.settings import DatabaseSettings

SCRIPT_LOCATION = "tokend.store:migrations"


def alembic_config(settings: DatabaseSettings) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["database_settings"] = settings
    return config


def upgrade(settings: DatabaseSettings, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Blocking: call it from a thread inside an event loop."""
    command.upgrade(alembic_config(settings), revision)
