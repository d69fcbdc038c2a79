"""How the consumer source is doing, as this process saw it: which source runs, where (its URL
without credentials), the last answer and the last failure (a message that is safe to show:
``SourceUnavailable``'s), how many distinct consumers it answered for, and the circuit
breaker's state. The console's gateway page shows it and can check the source now.

Per process: each replica keeps its own (each has its own breaker too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from tokend.core.breaker import CircuitBreaker
from tokend.core.clock import Clock

#: At most this many consumer ids are remembered to count them (the count stops there).
MAX_CONSUMERS_COUNTED: Final = 10_000
_ERROR_CHARS: Final = 200


def safe_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials could hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class SourceTracker:
    """Updated by the source on every call; cheap (a few assignments): it is on the hot path."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last_success_at: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self._consumers: set[str] = set()

    def succeeded(self) -> None:
        self.last_success_at = self._clock.now()

    def saw(self, consumer_id: str) -> None:
        """The source answered with this consumer's credential."""
        if len(self._consumers) < MAX_CONSUMERS_COUNTED:
            self._consumers.add(consumer_id)

    def failed(self, reason: str) -> None:
        """``reason`` must be safe to show (no secret): ``SourceUnavailable``'s message is."""
        self.last_error = reason[:_ERROR_CHARS]
        self.last_error_at = self._clock.now()

    @property
    def consumers_seen(self) -> int:
        return len(self._consumers)


@dataclass(frozen=True, slots=True)
class SourceSnapshot:
    #: ``kong`` (the Kong Admin API or Konnect) or ``local`` (tokend's consumer table).
    source: str
    #: ``API_GATEWAY`` or ``KONNECT`` for Kong; None for the local table.
    mode: str | None
    #: Where the source is, without credentials; None for the local table (the database).
    url: str | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consumers_seen: int
    breaker: str
    #: Whether :meth:`SourceHealth.check_now` asks the source anything.
    can_check: bool


class SourceHealth:
    """The gateway's consumer source, for the console: its state and a check on demand."""

    def __init__(
        self,
        source: str,
        mode: str | None,
        url: str | None,
        tracker: SourceTracker,
        breaker: CircuitBreaker,
        check: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self._source, self._mode, self._url = source, mode, url
        self._tracker = tracker
        self._breaker = breaker
        self._check = check

    def snapshot(self) -> SourceSnapshot:
        t = self._tracker
        return SourceSnapshot(
            self._source, self._mode, self._url, t.last_success_at, t.last_error,
            t.last_error_at, t.consumers_seen,
            self._breaker.state.name.lower().replace("_", "-"), self._check is not None,
        )  # fmt: skip

    async def check_now(self) -> SourceSnapshot:
        """Ask the source whether it answers (Kong: ``GET /status``); the tracker records the
        outcome. Raises ``SourceUnavailable`` when it does not."""
        if self._check is not None:
            await self._check()
        return self.snapshot()
