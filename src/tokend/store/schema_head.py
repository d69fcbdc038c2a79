"""Whether the database's schema is this tokend's, answered without Alembic when it is.

``tokend serve`` checks the schema before it starts (``cli.main.require_schema``); importing
Alembic and reading every migration script to learn the head costs about a quarter of a second
of each start. The head revision is kept here instead (``HEAD_REVISION``; a test fails when a new
migration is added without it), and one query reads the database's. Only when the two differ
does ``store.migrate.schema_behind`` load Alembic to tell older (refused) from newer (a rolling
upgrade: accepted).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings

#: The newest migration's revision (``store/migrations/versions``).
HEAD_REVISION: Final = "0034"


async def at_head(settings: DatabaseSettings) -> bool:
    """True when the schema's one revision is :data:`HEAD_REVISION`; False otherwise, or when
    the version table cannot be read (no schema yet): the caller then asks Alembic."""
    # The schema name is checked by its setting's pattern ([a-z_][a-z0-9_]*): safe to quote.
    table = (
        f'"{settings.schema_name}".alembic_version' if settings.schema_name else "alembic_version"
    )
    database = open_database(settings)
    try:
        async with database.engine.connect() as connection:
            rows = (await connection.execute(text(f"SELECT version_num FROM {table}"))).all()  # noqa: S608
    except SQLAlchemyError:
        return False
    finally:
        await database.close()
    return [row[0] for row in rows] == [HEAD_REVISION]
