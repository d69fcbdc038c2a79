"""Every console action, as an audit event: one structlog event (``console.<action>``, with the
administrator's user id and the request id the middleware binds, never a secret), a Prometheus
counter, and the recent ones in memory for the console's audit page."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter

log = structlog.get_logger("tokend.console.audit")
#: How many events the audit page can show (per process; the log keeps them all).
KEPT_EVENTS: Final = 1000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    action: str
    actor: str
    target: str
    outcome: str = "ok"
    details: tuple[tuple[str, str], ...] = field(default=())


class ConsoleAudit:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "tokend_console_actions_total",
            "Actions taken in the operator console, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self._recent: deque[AuditEntry] = deque(maxlen=KEPT_EVENTS)

    def record(
        self, at: datetime, action: str, actor: str, target: str = "", outcome: str = "ok",
        **details: str,
    ) -> None:  # fmt: skip
        self._counter.labels(action=action, outcome=outcome).inc()
        self._recent.appendleft(
            AuditEntry(at, action, actor, target, outcome, tuple(sorted(details.items())))
        )
        log.info(f"console.{action}", actor=actor, target=target, outcome=outcome, **details)

    def recent(self) -> Iterable[AuditEntry]:
        return tuple(self._recent)
