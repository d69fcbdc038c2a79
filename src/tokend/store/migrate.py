"""Alembic, driven from code: ``tokend migrate`` and the demo mode's automatic upgrade."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection

from tokend.store.engine import open_database
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


async def current_revisions(settings: DatabaseSettings) -> tuple[str, ...]:
    """The revisions the database's schema is at; empty when it has no tokend schema."""

    def current(connection: Connection) -> tuple[str, ...]:
        options = {"version_table_schema": settings.schema_name}
        return tuple(MigrationContext.configure(connection, opts=options).get_current_heads())

    database = open_database(settings)
    try:
        async with database.engine.connect() as connection:
            return await connection.run_sync(current)
    finally:
        await database.close()


def steps_between(
    settings: DatabaseSettings, before: tuple[str, ...], after: tuple[str, ...]
) -> int:
    """How many migrations lead from the ``before`` revisions to the ``after`` ones."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    lower = before[0] if len(before) == 1 else "base"
    if not after:
        return 0
    try:
        return len(list(script.iterate_revisions(after[0], lower)))
    except CommandError:  # a revision this tokend does not know (a newer release's)
        return 0


async def schema_behind(settings: DatabaseSettings) -> str | None:
    """Why the database's schema is not the one this tokend needs, or None when it is (or is
    newer: a database migrated by a later release, during a rolling upgrade)."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    heads = await current_revisions(settings)
    if not heads:
        return "the database has no tokend schema"
    needed = set(script.get_heads())
    for head in heads:
        try:
            if script.get_revision(head) is None:
                continue
        except CommandError:  # not one of ours: written by a newer release
            continue
        if head not in needed:
            return f"the database schema is at revision {head}, older than this tokend's"
    return None
