"""Every console action, as an audit event: one structlog event (``console.<action>``, with the
administrator's user id and the request id the middleware binds, never a secret), a Prometheus
counter, and a row of the durable audit trail (``store.audit``) the audit page reads, the same
on every replica and after a restart.

The trail holds the other audit events of the process too (the provider's ``auth.*``, the
keyring's, the gateway's and the broker directory's), taken from their loggers while the console
runs: structlog hands every event to the standard library's logger of its name
(``obs.logging``), where :class:`AuditCapture` listens. Those events carry no secret by design;
fields with a secret-sounding name are dropped all the same.

Writes never hold up the request that records an event: events wait in a bounded buffer that
a background task writes in batches every ``FLUSH_EVERY_S`` (and the audit page writes first, so
an administrator sees their own action at once). A failed write does not fail the action: it is
logged (``console.audit_write_failed``), counted, and the batch is tried again with the next one
while the buffer has room; events beyond ``PENDING_MAX`` are dropped and counted.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final, Protocol

import anyio
import structlog
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import SQLAlchemyError

from tokend.store.audit import AuditQuery, AuditRecord, bounded

log = structlog.get_logger("tokend.console.audit")
#: How often the buffered events are written.
FLUSH_EVERY_S: Final = 1.0
#: How long one write may take before its batch is put back for the next try.
WRITE_TIMEOUT_S: Final = 10.0
#: Events waiting to be written, at most (a database outage must not grow memory without end).
PENDING_MAX: Final = 10_000
#: The loggers whose events the audit trail keeps besides the console's own.
AUDITED_LOGGERS: Final = (
    "tokend.oidc.audit", "tokend.keys", "tokend.gateway", "tokend.broker.directory",
)  # fmt: skip
#: Events of those loggers that are not audit events (start-up chatter, per-request noise).
_AUDITED_PREFIXES: Final = ("auth.", "keyring.", "gateway.consumer_", "broker.directory.entry_")
_SECRETISH: Final = ("secret", "password", "token", "code", "key", "assertion")
_ACTOR_FIELDS: Final = ("user_id", "client_id", "consumer_id", "username")
_LOG_FIELDS: Final = ("level", "logger", "timestamp", "request_id")


class AuditStore(Protocol):
    async def add(self, records: Sequence[AuditRecord]) -> None:
        """Store the events; one already stored (the same id: a batch tried again after a
        write that timed out yet committed) is skipped."""
        ...

    async def page(self, query: AuditQuery) -> list[AuditRecord]:
        """The events matching ``query``, newest first, at most ``query.limit``."""
        ...


def new_record(
    at: datetime, action: str, actor: str, target: str, outcome: str,
    details: Mapping[str, str], request_id: str | None,
) -> AuditRecord:  # fmt: skip
    return bounded(uuid.uuid4().hex, at, action, actor, target, outcome, details, request_id)


class ConsoleAudit:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "tokend_console_actions_total",
            "Actions taken in the operator console, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self._failures = Counter(
            "tokend_console_audit_write_failures_total",
            "Batches of audit events the database did not take (tried again later)",
            registry=registry,
        )
        self._dropped = Counter(
            "tokend_console_audit_events_dropped_total",
            "Audit events never stored: the buffer was full while the database failed",
            registry=registry,
        )
        self._pending: deque[AuditRecord] = deque()
        self._store: AuditStore | None = None
        self._flushing = anyio.Lock()

    def record(
        self, at: datetime, action: str, actor: str, target: str = "", outcome: str = "ok",
        **details: str,
    ) -> None:  # fmt: skip
        self._counter.labels(action=action, outcome=outcome).inc()
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        self.keep(
            new_record(
                at, action, actor, target, outcome, details,
                request_id if isinstance(request_id, str) else None,
            )
        )  # fmt: skip
        log.info(f"console.{action}", actor=actor, target=target, outcome=outcome, **details)

    def keep(self, entry: AuditRecord) -> None:
        """Queue an event for the trail (the console's, or one :class:`AuditCapture` took)."""
        if len(self._pending) >= PENDING_MAX:
            self._pending.popleft()
            self._dropped.inc()
        self._pending.append(entry)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write the buffered events; on failure keep them for the next try (room allowing).

        One flush at a time: a page's flush waits for a batch the writer has in flight, so the
        page an administrator opens next shows their own action."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        store = self._store
        if store is None or not self._pending:
            return
        batch: list[AuditRecord] = []
        while self._pending and len(batch) < PENDING_MAX:
            batch.append(self._pending.popleft())
        error = await _write(store, batch)
        if error is None:
            return
        self._failures.inc()
        log.warning("console.audit_write_failed", events=len(batch), error=error)
        # Back to the front, oldest first; what no longer fits is the oldest: dropped.
        room = max(0, PENDING_MAX - len(self._pending))
        kept = batch[len(batch) - room :] if room < len(batch) else batch
        if room < len(batch):
            self._dropped.inc(len(batch) - room)
        self._pending.extendleft(reversed(kept))

    async def page(self, query: AuditQuery) -> list[AuditRecord]:
        """A page of the trail, this process's buffered events written first."""
        await self.flush()
        if self._store is None:
            return []
        return await self._store.page(query)

    def attach(self, store: AuditStore | None) -> None:
        """Where events go from now on (None: they wait, while the app is not running)."""
        self._store = store

    async def writing(self) -> None:
        """Write every ``FLUSH_EVERY_S`` until cancelled; runs in the console's lifespan,
        which flushes once more on the way out."""
        while True:
            await anyio.sleep(FLUSH_EVERY_S)
            await self.flush()

    @contextmanager
    def capturing(self, now: Callable[[], datetime], skip: Collection[str] = ()) -> Iterator[None]:
        """Keep the audited loggers' events, but those named in ``skip``, while the block
        runs."""
        handler = AuditCapture(self, now, frozenset(skip))
        loggers = [logging.getLogger(name) for name in AUDITED_LOGGERS]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(handler)


async def _write(store: AuditStore, batch: Sequence[AuditRecord]) -> str | None:
    """Write ``batch``; None, or why it failed. The write is shielded from cancellation (a
    request whose client went away, the writer stopped at shutdown): taken from the buffer, a
    batch is written or put back, never lost half-way; ``WRITE_TIMEOUT_S`` bounds it."""
    with anyio.CancelScope(shield=True) as scope:
        scope.deadline = anyio.current_time() + WRITE_TIMEOUT_S
        try:
            await store.add(batch)
        except (SQLAlchemyError, OSError) as exc:
            return type(exc).__name__
    return "TimeoutError" if scope.cancelled_caught else None


class AuditCapture(logging.Handler):
    """Turns the audited loggers' structlog events into audit trail events."""

    def __init__(
        self, audit: ConsoleAudit, now: Callable[[], datetime], skip: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(logging.INFO)
        self._audit = audit
        self._now = now
        self._skip = skip

    def emit(self, record: logging.LogRecord) -> None:
        event = record.msg
        if not isinstance(event, Mapping):
            return
        name = str(event.get("event", ""))
        if not name.startswith(_AUDITED_PREFIXES) or name in self._skip:
            return
        fields = {
            str(k): str(v)
            for k, v in event.items()
            if k != "event" and not k.startswith("_") and isinstance(v, str | int)
            and not any(word in str(k).lower() for word in _SECRETISH)
        }  # fmt: skip
        actor = next((fields[f] for f in _ACTOR_FIELDS if f in fields), "")
        target = fields.pop("kid", "") or fields.pop("prefix", "")
        request_id = fields.get("request_id")
        details = {k: v for k, v in fields.items() if k not in _LOG_FIELDS}
        self._audit.keep(new_record(self._now(), name, actor, target, "ok", details, request_id))
