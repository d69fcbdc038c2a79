"""structlog set-up: JSON lines (or console for people), request ids, redaction, and the access
log's own cheap renderer.

Logging is process-wide by nature, so ``configure_logging`` changes global state; it is
idempotent and only replaces the handler it installed itself.

Every line goes through :data:`LINES`: on the event loop's thread lines are gathered and written
once per loop iteration (one ``write`` for all the requests answered in it, instead of one per
line); anywhere else they are written at once. The access log (one line per request) skips
structlog's processor chain and the stdlib record: :class:`AccessLog` renders the same keys
itself. Through structlog the line cost ~40% of a constant ``/health`` (py-spy, README
"Performance"). Its lines for answers below 500 are held a little longer (:data:`HOLD_S`, or
until :data:`HOLD_BYTES` are held, or until any other line is written), as the standard
library's ``logging.handlers.MemoryHandler`` holds records below its flush level: one write
per loop iteration still cost 15% of ``/health``'s rate through uvicorn. They are rendered when
they are written, not in the request (:meth:`LineBuffer.write_later`).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

import structlog
from structlog.types import Processor

from tokend.core.environment import Environment
from tokend.obs.redaction import redact_event
from tokend.obs.settings import LogSettings

_HANDLER_NAME = "tokend"


#: How long a routine line (:meth:`LineBuffer.write_later`) may wait for others to share its
#: write, and how many bytes of them may wait (:data:`LATER_BYTES` a line): at 20,000
#: requests/s a write then carries 256 access lines, and a person tailing the log sees them
#: within a fiftieth of a second.
HOLD_S: Final = 0.02
HOLD_BYTES: Final = 64 * 1024
#: What a line held unrendered counts towards :data:`HOLD_BYTES`: about an access line's length.
LATER_BYTES: Final = 256

Record = TypeVar("Record")
#: A held line not rendered yet: its renderer and what it renders.
_Later = tuple[Callable[[Any], str], Any]


class LineBuffer:
    """Writes to whatever ``sys.stderr`` is at the time (so a swapped stream, a test capture or
    a daemon redirect, never leaves the handler holding a closed file), gathering what an event
    loop's thread writes into one write at the end of that loop iteration, or, for routine
    lines, at the end of a short hold."""

    def __init__(self, hold_s: float = HOLD_S, hold_bytes: int = HOLD_BYTES) -> None:
        self._hold_s = hold_s
        self._hold_bytes = hold_bytes
        self._pending: list[str | _Later] = []
        self._held_bytes = 0
        # Loops with a flush due (a plain set: a WeakSet's ``in`` cost 5% of ``/health``). A
        # loop leaves it when its flush runs, which it does before it stops.
        self._scheduled: set[asyncio.AbstractEventLoop] = set()
        # Each thread's loop with a held flush due (by thread id); a loop closed before it came
        # leaves when another is added.
        self._held: dict[int, asyncio.AbstractEventLoop] = {}
        # Worker threads and a second loop (a test client's) write too.
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        """``text`` out by the end of this loop iteration (at once off a loop's thread), after
        every line written before it, held ones included."""
        # The C accessor: None off a loop's thread, where get_running_loop would raise.
        loop = asyncio._get_running_loop()
        with self._lock:
            self._pending.append(text)
            if loop is None:  # not on an event loop's thread: at once, after what is pending
                self._write_pending()
            else:
                self._flush_soon(loop)
        return len(text)

    def write_later(self, render: Callable[[Record], str], record: Record) -> None:
        """A routine line, out within the hold or sooner with the next line written another
        way, rendered by ``render(record)`` when it is written, not now: the held lines are
        rendered together, one after another, at the flush. Rendered in the request, with
        whatever it left in the CPU's caches, an access line cost ~7 µs of a 31 µs ``/health``
        (in process, production settings); rendered in a run of them at the flush, ~1.5 µs,
        and appending the record ~0.3 µs.

        While this thread's loop has a held flush due, the line joins it without looking the
        running loop up: Python 3.11's lookup asks the kernel for the process id (a ``getpid``
        system call, to notice a fork), 6% of ``/health``'s samples in ``py-spy --native``
        (the server's CPU time a request did not move beyond this machine's noise). A loop
        that runs has its timers run, so the held flush writes the line in time."""
        thread = threading.get_ident()
        with self._lock:
            self._pending.append((render, record))
            self._held_bytes += LATER_BYTES
            held = self._held.get(thread)
            below = self._held_bytes < self._hold_bytes
            if below and held is not None and held.is_running():
                return
            loop = asyncio._get_running_loop()
            if loop is None:  # not on an event loop's thread: at once
                self._write_pending()
            elif not below:
                self._flush_soon(loop)
            elif held is not loop:
                self._held = {t: held for t, held in self._held.items() if not held.is_closed()}
                self._held[thread] = loop
                loop.call_later(self._hold_s, self._flush_held, thread, loop)

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Everything pending out at the end of this iteration of ``loop`` (lock held)."""
        if loop not in self._scheduled:
            self._scheduled.add(loop)
            loop.call_soon(self._flush_for, loop)

    def _flush_for(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._scheduled.discard(loop)
            self._write_pending()

    def _flush_held(self, thread: int, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if self._held.get(thread) is loop:
                del self._held[thread]
            self._write_pending()

    def flush(self) -> None:
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._pending:
            text = "".join(
                [line if isinstance(line, str) else line[0](line[1]) for line in self._pending]
            )
            self._pending.clear()
            self._held_bytes = 0
            sys.stderr.write(text)
        sys.stderr.flush()


#: tokend's one log stream.
LINES: Final = LineBuffer()
atexit.register(LINES.flush)

LogFormat = Literal["json", "console"]


def log_format(fmt: LogFormat | None, env: Environment) -> LogFormat:
    """The format to log in: the setting's, else JSON in production, console in demo (people
    read a demo's log), and in development console on a terminal, JSON otherwise."""
    if fmt is not None:
        return fmt
    if env is Environment.PRODUCTION:
        return "json"
    if env is Environment.DEMO:
        return "console"
    return "console" if sys.stderr.isatty() else "json"


class AccessLog:
    """The ``http.request`` line of each request, rendered without structlog: the same keys as
    every other line (event, level, logger, timestamp, request_id) in the same format, at a
    few microseconds a line. The values are safe to write as they are: the method is one of a
    fixed set, the route a template (or ``<unmatched>``), the request id 32 hex digits or a
    header value of a checked alphabet (``obs.middleware``): nothing to redact or escape but
    the route, which is JSON-encoded once per template.

    What a line shares with the others of its method, route and status is rendered once, and
    the timestamp's date and time once a second. A request only records its values; the line
    is rendered with the others held at the flush (:meth:`LineBuffer.write_later`), except a
    server error's, which goes out with its iteration."""

    def __init__(self, fmt: LogFormat) -> None:
        self._json = fmt == "json"
        self._heads: dict[tuple[str, str, int], str] = {}
        # The last second rendered and its date and time, replaced as one.
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, time_ns: int) -> str:
        seconds, nanoseconds = divmod(time_ns, 1_000_000_000)
        second, stamp = self._second
        if seconds != second:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._second = (seconds, stamp)
        return f"{stamp}.{nanoseconds // 1000:06d}Z"

    def _head(self, method: str, route: str, status: int) -> str:
        if self._json:
            head = f'{{"method": "{method}", "route": {json.dumps(route)}, "status": {status}, '
        else:  # laid out as structlog's ConsoleRenderer lays out the other lines
            head = (
                " [info     ] http.request                   [tokend.http] "
                f"{method} {route} {status} "
            )
        # Bounded: methods are a fixed set, routes templates, statuses three digits.
        self._heads[method, route, status] = head
        return head

    def __call__(
        self, method: str, route: str, status: int, elapsed_s: float, request_id: str
    ) -> None:
        line = (method, route, status, elapsed_s, request_id, time.time_ns())
        if status < 500:
            LINES.write_later(self.render, line)
        else:  # a server error is out with its own iteration, as every other error line is
            LINES.write(self.render(line))

    def render(self, line: tuple[str, str, int, float, str, int]) -> str:
        """The line of one request (its method, route, status, duration, request id and the
        time it was answered)."""
        method, route, status, elapsed_s, request_id, answered_ns = line
        head = self._heads.get((method, route, status)) or self._head(method, route, status)
        if self._json:
            return (
                f'{head}"duration_ms": {elapsed_s * 1000:.2f}, "event": "http.request", '
                f'"request_id": "{request_id}", "level": "info", "logger": "tokend.http", '
                f'"timestamp": "{self._timestamp(answered_ns)}"}}\n'
            )
        stamp = self._timestamp(answered_ns)
        return f"{stamp}{head}{elapsed_s * 1000:.2f} ms request_id={request_id}\n"

    @classmethod
    def for_settings(cls, settings: LogSettings, env: Environment) -> AccessLog | None:
        """The access log ``settings`` ask for; None when off or below the log level."""
        if not settings.access_log or getattr(logging, settings.level.upper()) > logging.INFO:
            return None
        return cls(log_format(settings.format, env))


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
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(settings: LogSettings, env: Environment) -> None:
    fmt = log_format(settings.format, env)
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
    handler = logging.StreamHandler(LINES)
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
    # Nothing tokend renders reads a record's caller, thread or process, and finding them was
    # an eighth of each line's cost (the logging HOWTO's "Optimization": ``_srcfile`` None
    # skips the caller's frame lookup).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # Uvicorn's own access log would duplicate ours (and print query strings): ours is enough.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "granian", "_granian"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
