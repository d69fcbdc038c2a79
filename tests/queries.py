"""Count the SQL a block of test code makes a running app send (to prove queries are shared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from sqlalchemy import event


@contextmanager
def selects_from(app: FastAPI, table: str) -> Iterator[list[str]]:
    """The SELECT statements on ``table`` the app's database runs inside the block."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and table in statement:
            seen.append(statement)

    engine = app.state.resources.get().database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
