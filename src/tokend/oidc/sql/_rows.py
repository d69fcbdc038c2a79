"""Helpers shared by the SQL stores."""

from __future__ import annotations

from sqlalchemy import CursorResult


def rowcount(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


def scopes_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


def scope_text(scopes: frozenset[str]) -> str:
    return " ".join(sorted(scopes))
