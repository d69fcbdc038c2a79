"""The console's audit buffer: a write is never lost half-way (cancelled requests, shutdown), a
refused write is put back and counted, and a full buffer drops the oldest events, counted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError

from tokend.console import audit as audit_module
from tokend.console.audit import ConsoleAudit
from tokend.store.audit import AuditQuery, AuditRecord

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class MemoryTrail:
    """An in-memory :class:`tokend.console.audit.AuditStore`."""

    def __init__(self, *, delay_s: float = 0.0, failing: bool = False) -> None:
        self.rows: list[AuditRecord] = []
        self.delay_s = delay_s
        self.failing = failing

    async def add(self, records: Sequence[AuditRecord]) -> None:
        await anyio.sleep(self.delay_s)
        if self.failing:
            raise OperationalError("INSERT", None, Exception("disk I/O error"))
        self.rows.extend(r for r in records if r not in self.rows)

    async def page(self, query: AuditQuery) -> list[AuditRecord]:
        return sorted(self.rows, key=lambda r: (r.at, r.id), reverse=True)[: query.limit]


async def test_a_write_cancelled_half_way_still_completes() -> None:
    audit = ConsoleAudit(CollectorRegistry())
    trail = MemoryTrail(delay_s=0.2)
    audit.attach(trail)
    audit.record(AT, "client_created", "u_1", "c_1")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(audit.flush)
        await anyio.sleep(0.05)
        tasks.cancel_scope.cancel()  # a request whose client went away
    assert [r.action for r in trail.rows] == ["client_created"]
    assert audit.pending == 0


async def test_a_refused_write_is_put_back_counted_and_written_later() -> None:
    registry = CollectorRegistry()
    audit = ConsoleAudit(registry)
    trail = MemoryTrail(failing=True)
    audit.attach(trail)
    audit.record(AT, "first", "u_1")
    audit.record(AT, "second", "u_1")
    await audit.flush()
    assert audit.pending == 2
    assert registry.get_sample_value("tokend_console_audit_write_failures_total") == 1
    trail.failing = False
    await audit.flush()
    assert [r.action for r in trail.rows] == ["first", "second"]
    assert audit.pending == 0


async def test_a_full_buffer_drops_the_oldest_and_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_module, "PENDING_MAX", 3)
    registry = CollectorRegistry()
    audit = ConsoleAudit(registry)  # no store yet: events wait
    for action in ("a", "b", "c", "d", "e"):
        audit.record(AT, action, "u_1")
    assert audit.pending == 3
    assert registry.get_sample_value("tokend_console_audit_events_dropped_total") == 2
    trail = MemoryTrail()
    audit.attach(trail)
    await audit.flush()
    assert [r.action for r in trail.rows] == ["c", "d", "e"]


async def test_a_page_waits_for_the_batch_the_writer_has_in_flight() -> None:
    audit = ConsoleAudit(CollectorRegistry())
    audit.attach(MemoryTrail(delay_s=0.2))
    audit.record(AT, "guard_jwks_cleared", "u_1")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(audit.flush)  # the periodic writer took the event
        await anyio.sleep(0.05)
        shown = await audit.page(AuditQuery())
    assert [r.action for r in shown] == ["guard_jwks_cleared"]
