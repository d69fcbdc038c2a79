"""The observability blocks: logs (``TOKEND_LOG__*``), traces (``TOKEND_OTEL__*``) and the
metrics endpoint (``TOKEND_METRICS__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class LogSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: None: JSON in production, console (for people) in demo, and in development console on
    #: a terminal, JSON otherwise. Set it to have JSON from a demo or console in production.
    format: Literal["json", "console"] | None = None
    #: One ``http.request`` line per request (method, route template, status, duration, request
    #: id), rendered by ``obs.logging.AccessLog`` when the log buffer writes it (a request only
    #: records its values), at a few microseconds a line.
    access_log: bool = True


class OtelSettings(BaseModel):
    #: OTLP/HTTP endpoint, e.g. http://tempo:4318. Unset: no tracing.
    endpoint: str | None = None
    service_name: str = "tokend"


class MetricsSettings(BaseModel):
    """Who may read ``/metrics`` (traffic by route, clients, operators, errors): production
    needs one of the two."""

    #: Serve ``/metrics`` on this port of ``server.host`` only, not on the API's port: a port the
    #: load balancer does not route to (Kubernetes: not in the Service; the NetworkPolicy lets
    #: the monitoring namespace in). One process's metrics: not with ``server.workers`` > 1.
    port: int | None = Field(default=None, ge=1, le=65535)
    #: Or keep ``/metrics`` on the API's port behind ``Authorization: Bearer <token>``
    #: (Prometheus: ``authorization: {credentials_file: ...}``).
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _port_or_token(self) -> MetricsSettings:
        if self.port is not None and self.token is not None:
            raise ValueError("set metrics.port or metrics.token, not both (the port has no token)")
        return self
