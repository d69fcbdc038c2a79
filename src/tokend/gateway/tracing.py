"""Seed 004's spans (``cache.get``, ``kong.getConsumerSecret``, ``jwt_create``), or none at all.

With tracing off, even a no-op span costs a context attach and detach on the hot path, so the
gateway then opens no span; with tracing on, spans go to the tracer the spine configured (and
the Kong call carries their W3C ``traceparent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext

from opentelemetry.trace import Tracer
from opentelemetry.util.types import AttributeValue


class Spans:
    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer | None) -> None:
        self._tracer = tracer

    def __call__(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> AbstractContextManager[object]:
        if self._tracer is None:
            return nullcontext()
        return self._tracer.start_as_current_span(name, attributes=attributes)
