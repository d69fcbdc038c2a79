"""structlog set-up: JSON lines (or console in development), request ids, redaction.

Logging is process-wide by nature, so ``configure_logging`` changes global state; it is
idempotent and only replaces the handler it installed itself.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.types import Processor

from tokend.core.environment import Environment
from tokend.obs.redaction import redact_event
from tokend.obs.settings import LogSettings

_HANDLER_NAME = "tokend"


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time, so a swapped stream (test capture,
    a daemon redirect) never leaves the handler holding a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,  # last before rendering, so nothing added earlier escapes it
    ]


def log_formatter(fmt: str = "json") -> logging.Formatter:
    """The formatter of tokend's handler: renders structlog and stdlib records, redacted."""
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=True)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(settings: LogSettings, env: Environment) -> None:
    fmt = settings.format
    if fmt is None:
        interactive = env is not Environment.PRODUCTION and sys.stderr.isatty()
        fmt = "console" if interactive else "json"
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_CurrentStderr())
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(log_formatter(fmt))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    level = getattr(logging, settings.level.upper())
    handler.setLevel(level)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    # Uvicorn's own access log would duplicate ours (and print query strings): ours is enough.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "granian", "_granian"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
