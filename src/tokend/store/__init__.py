"""Relational storage: one async engine per app, one metadata, Alembic migrations."""
