"""The observability blocks: logs (``TOKEND_LOG__*``) and traces (``TOKEND_OTEL__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: None picks console in demo/development on a terminal, JSON otherwise.
    format: Literal["json", "console"] | None = None
    access_log: bool = True


class OtelSettings(BaseModel):
    #: OTLP/HTTP endpoint, e.g. http://tempo:4318. Unset: no tracing.
    endpoint: str | None = None
    service_name: str = "tokend"
