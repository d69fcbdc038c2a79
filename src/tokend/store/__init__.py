"""Relational storage: one async engine per app, one metadata, Alembic migrations."""

from tokend.store.base import Base
from tokend.store.engine import Database, open_database

__all__ = ["Base", "Database", "open_database"]
