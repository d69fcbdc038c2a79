"""Where consumer credentials come from: one small interface, one module per source.

``kong``: the Kong Admin API (self-hosted) or Konnect. ``local``: tokend's own table of
standalone consumers and their API keys (:mod:`tokend.gateway.sql`).
"""

from __future__ import annotations

from typing import Protocol

from tokend.gateway.records import Credential


class SourceUnavailable(Exception):
    """The source could not answer (unreachable, timed out, 5xx, 429, malformed answer).

    Counted against the source's circuit breaker; the message is safe to log.
    """


class ConsumerSource(Protocol):
    #: Upstream name for the breaker and metrics, and the name of the lookup span.
    name: str
    span_name: str

    async def fetch(self, lookup: str) -> Credential | None:
        """The credential for ``lookup``; None when the source answered that there is none.

        Raises :class:`SourceUnavailable` when it could not answer.
        """
        ...


__all__ = ["ConsumerSource", "SourceUnavailable"]
