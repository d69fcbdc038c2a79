"""tokend's JSON log lines as a test sees them on stderr, for waiting on an event that has no
other outward sign (a background loop that failed and carried on, a watcher that rejected a
file)."""

from __future__ import annotations

import json

import pytest

from tokend.core.environment import Environment
from tokend.obs.logging import configure_logging
from tokend.obs.settings import LogSettings


class LogLines:
    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        configure_logging(LogSettings(format="json"), Environment.PRODUCTION)
        self._capfd = capfd
        self._events: list[dict[str, object]] = []

    def named(self, event: str) -> list[dict[str, object]]:
        """Every line logged so far with this event name, oldest first."""
        err = self._capfd.readouterr().err
        self._events += [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        return [e for e in self._events if e["event"] == event]
