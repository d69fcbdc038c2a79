"""Alembic environment: async engine, batch mode on SQLite, optional PostgreSQL schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings
from tokend.tables import metadata


def _run(connection: Connection, settings: DatabaseSettings) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table_schema=settings.schema_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(settings: DatabaseSettings) -> None:
    database = open_database(settings)
    try:
        async with database.engine.connect() as connection:
            if settings.schema_name and connection.dialect.name == "postgresql":
                await connection.execute(
                    text(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema_name}"')
                )
                await connection.commit()
            await connection.run_sync(_run, settings)
            await connection.commit()
    finally:
        await database.close()


def _main() -> None:
    settings = context.config.attributes.get("database_settings") or DatabaseSettings()
    if context.is_offline_mode():
        context.configure(url=settings.url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_async(settings))


_main()
