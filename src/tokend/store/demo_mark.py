"""The mark a demo run leaves on the database it creates, so demo data lands nowhere else.

``tokend serve --demo`` writes clients and a user whose credentials it prints, among them a
client allowed ``tokend:admin``. Written into a real database they are a way in for whoever saw
the banner, long after the demo stopped. So a demo run writes only into a database a demo run
created: an empty one is marked (a one-row table of its own, outside the migrations, which no
other database has) in the transaction that found it empty, before anything else is written;
a database holding tables without the mark (``tokend migrate`` made it, or anything else) is
refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, inspect, text
from sqlalchemy.engine import Connection

from tokend.store.engine import open_database
from tokend.store.settings import DatabaseSettings

DEMO_MARK_TABLE: Final = "tokend_demo_database"


class NotADemoDatabase(Exception):
    """The database holds tables that no demo run created."""


def _mark_table(schema: str | None) -> Table:
    return Table(
        DEMO_MARK_TABLE,
        MetaData(schema=schema),
        Column("id", Integer, primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )


async def claim_for_demo(settings: DatabaseSettings) -> None:
    """Make sure the database is a demo's: mark it when it is empty, raise
    :class:`NotADemoDatabase` when it holds tables without the mark."""
    database = open_database(settings)
    try:
        async with database.engine.begin() as conn:
            schema = settings.schema_name if conn.dialect.name == "postgresql" else None
            if schema is not None:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            tables = await conn.run_sync(_table_names, schema)
            if DEMO_MARK_TABLE in tables:
                return
            if tables:
                raise NotADemoDatabase(
                    f"the database holds {len(tables)} tables and was not created by a demo run"
                )
            mark = _mark_table(schema)
            await conn.run_sync(mark.create)
            await conn.execute(mark.insert().values(id=1, created_at=datetime.now(UTC)))
    finally:
        await database.close()


def _table_names(conn: Connection, schema: str | None) -> list[str]:
    return inspect(conn).get_table_names(schema=schema)
