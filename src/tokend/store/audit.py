"""The durable audit trail (``audit_events``): the console's actions and the other audit events
a process captured (the provider's ``auth.*``, the keyring's, the gateway's, the telco
directory's), one row each, shared by every replica on the database.

A row never holds a secret: the writers drop secret-sounding fields before they get here, and
every text is bounded (:func:`bounded`). Rows older than ``console.audit_retention_days`` are
deleted by a periodic job (``app.shared_jobs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import (
    JSON,
    ColumnElement,
    CursorResult,
    Index,
    String,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from tokend.store.base import Base, UTCDateTime
from tokend.store.engine import Database

#: The periodic job that deletes events older than the retention, and how often it runs.
PURGE_AUDIT_JOB: Final = "audit.purge"
PURGE_AUDIT_EVERY_S: Final = 3600.0
#: Column widths; longer texts are cut (an audit row is a summary, the log has the rest).
ACTION_CHARS: Final = 100
ACTOR_CHARS: Final = 255
TARGET_CHARS: Final = 255
OUTCOME_CHARS: Final = 16
REQUEST_ID_CHARS: Final = 64
#: At most this many details per event, each key and value cut to these lengths.
MAX_DETAILS: Final = 20
DETAIL_KEY_CHARS: Final = 64
DETAIL_VALUE_CHARS: Final = 200


class AuditEventRow(Base):
    """One audit event. ``id`` is random (no order); pages are ordered by ``(at, id)``."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at_id", "at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(ACTION_CHARS), index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_CHARS), index=True)
    target: Mapped[str] = mapped_column(String(TARGET_CHARS))
    outcome: Mapped[str] = mapped_column(String(OUTCOME_CHARS))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_CHARS))
    details: Mapped[dict[str, str]] = mapped_column(JSON())


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit event as the console shows it."""

    id: str
    at: datetime
    action: str
    actor: str
    target: str = ""
    outcome: str = "ok"
    details: tuple[tuple[str, str], ...] = field(default=())
    request_id: str | None = None


def bounded(
    id_: str, at: datetime, action: str, actor: str, target: str, outcome: str,
    details: Mapping[str, str], request_id: str | None,
) -> AuditRecord:  # fmt: skip
    """A record whose every text fits its column (cut, never refused: the event happened)."""
    kept = sorted(
        (str(k)[:DETAIL_KEY_CHARS], str(v)[:DETAIL_VALUE_CHARS]) for k, v in details.items()
    )[:MAX_DETAILS]
    return AuditRecord(
        id_, at, action[:ACTION_CHARS], actor[:ACTOR_CHARS], target[:TARGET_CHARS],
        outcome[:OUTCOME_CHARS], tuple(kept),
        request_id[:REQUEST_ID_CHARS] if request_id else None,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which events a page shows: every filter set must hold; newest first."""

    #: The action starts with this (``auth.``, ``client_``).
    action_prefix: str = ""
    actor: str = ""
    target: str = ""
    #: Case-insensitive substring of the action, actor, target or outcome.
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    #: Keyset pagination: only events older than this ``(at, id)`` (the last one shown).
    before: tuple[datetime, str] | None = None
    limit: int = 20


class SqlAuditEvents:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, records: Sequence[AuditRecord]) -> None:
        """Store the events, in one transaction: one multi-row INSERT (no ORM unit of work: a
        busy provider logs an ``auth.token_issued`` per user token). An event already stored
        (the same id: a batch tried again after a write that timed out yet committed) is
        skipped: then each row goes in on its own."""
        if not records:
            return
        rows = [
            {
                "id": r.id, "at": r.at, "action": r.action, "actor": r.actor, "target": r.target,
                "outcome": r.outcome, "request_id": r.request_id, "details": dict(r.details),
            }
            for r in records
        ]  # fmt: skip
        try:
            async with self._db.sessions.begin() as session:
                await session.execute(insert(AuditEventRow), rows)
        except IntegrityError:
            for row in rows:
                try:
                    async with self._db.sessions.begin() as session:
                        await session.execute(insert(AuditEventRow), [row])
                except IntegrityError:
                    continue  # stored before

    async def page(self, query: AuditQuery) -> list[AuditRecord]:
        """Up to ``query.limit`` events matching ``query``, newest first."""
        row = AuditEventRow
        statement = (
            select(row)
            .where(*_conditions(query))
            .order_by(row.at.desc(), row.id.desc())
            .limit(query.limit)
        )
        async with self._db.sessions() as session:
            rows = (await session.execute(statement)).scalars().all()
        return [
            AuditRecord(
                r.id, r.at, r.action, r.actor, r.target, r.outcome,
                tuple(sorted((str(k), str(v)) for k, v in (r.details or {}).items())),
                r.request_id,
            )
            for r in rows
        ]  # fmt: skip

    async def purge(self, before: datetime) -> int:
        """Delete the events older than ``before``; how many went. Idempotent (replicas and
        workers may run it at once)."""
        async with self._db.sessions.begin() as session:
            result = await session.execute(delete(AuditEventRow).where(AuditEventRow.at < before))
            return result.rowcount if isinstance(result, CursorResult) else 0


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    row = AuditEventRow
    found: list[ColumnElement[bool]] = []
    if query.action_prefix:
        found.append(row.action.startswith(query.action_prefix, autoescape=True))
    if query.actor:
        found.append(row.actor == query.actor)
    if query.target:
        found.append(row.target == query.target)
    if query.since is not None:
        found.append(row.at >= query.since)
    if query.until is not None:
        found.append(row.at < query.until)
    if query.text:
        wanted = query.text.lower()
        found.append(
            or_(*(
                func.lower(column).contains(wanted, autoescape=True)
                for column in (row.action, row.actor, row.target, row.outcome)
            ))
        )  # fmt: skip
    if query.before is not None:
        at, id_ = query.before
        found.append(or_(row.at < at, and_(row.at == at, row.id < id_)))
    return found
