"""Every console action, as an audit event: one structlog event (``console.<action>``, with the
administrator's user id and the request id the middleware binds, never a secret), a Prometheus
counter, and the recent ones in memory for the console's audit page.

The page shows the other audit events of the process too (the provider's ``auth.*``, the
keyring's, the gateway's and the broker directory's), taken from their loggers while the console
runs: structlog hands every event to the standard library's logger of its name
(``obs.logging``), where :class:`AuditCapture` listens. Those events carry no secret by design;
fields with a secret-sounding name are dropped all the same.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter

log = structlog.get_logger("tokend.console.audit")
#: How many events the audit page can show (per process; the log keeps them all).
KEPT_EVENTS: Final = 1000
#: The loggers whose events the audit page shows besides the console's own.
AUDITED_LOGGERS: Final = (
    "tokend.oidc.audit", "tokend.keys", "tokend.gateway", "tokend.broker.directory",
)  # fmt: skip
#: Events of those loggers that are not audit events (start-up chatter, per-request noise).
_AUDITED_PREFIXES: Final = ("auth.", "keyring.", "gateway.consumer_", "broker.directory.entry_")
_SECRETISH: Final = ("secret", "password", "token", "code", "key", "assertion")
_ACTOR_FIELDS: Final = ("user_id", "client_id", "consumer_id", "username")
_LOG_FIELDS: Final = ("level", "logger", "timestamp", "request_id")


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

    def keep(self, entry: AuditEntry) -> None:
        """An event another part of the process wrote (see :class:`AuditCapture`)."""
        self._recent.appendleft(entry)

    def recent(self) -> Iterable[AuditEntry]:
        return tuple(self._recent)

    @contextmanager
    def capturing(self, now: Callable[[], datetime]) -> Iterator[None]:
        """Keep the audited loggers' events while the block runs."""
        handler = AuditCapture(self, now)
        loggers = [logging.getLogger(name) for name in AUDITED_LOGGERS]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(handler)


class AuditCapture(logging.Handler):
    """Turns the audited loggers' structlog events into audit page entries."""

    def __init__(self, audit: ConsoleAudit, now: Callable[[], datetime]) -> None:
        super().__init__(logging.INFO)
        self._audit = audit
        self._now = now

    def emit(self, record: logging.LogRecord) -> None:
        event = record.msg
        if not isinstance(event, Mapping):
            return
        name = str(event.get("event", ""))
        if not name.startswith(_AUDITED_PREFIXES):
            return
        fields = {
            str(k): str(v)
            for k, v in event.items()
            if k != "event" and not k.startswith("_") and isinstance(v, str | int)
            and not any(word in str(k).lower() for word in _SECRETISH)
        }  # fmt: skip
        actor = next((fields[f] for f in _ACTOR_FIELDS if f in fields), "")
        target = fields.pop("kid", "") or fields.pop("prefix", "")
        details = tuple(
            sorted((k, v) for k, v in fields.items() if k not in ("level", "logger", "timestamp"))
        )
        self._audit.keep(AuditEntry(self._now(), name, actor, target, "ok", details))
