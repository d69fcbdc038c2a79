"""The HTTP server block (``TOKEND_SERVER__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    #: Chosen by measurement, see README "Performance".
    server: Literal["uvicorn", "granian"] = "uvicorn"
    #: Peers whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` name the client (a reverse proxy
    #: in front of tokend): addresses, CIDR networks or ``*``. The gateway's trust in Kong never
    #: uses the forwarded address, only the TCP peer.
    forwarded_allow_ips: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @property
    def self_url(self) -> str:
        """Where this server answers itself: loopback for a bind-all address, IPv6 bracketed.
        Demo data points here (the broker's operators, the vault's provider) and the banner."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104  (a bind-all address is not dialled)
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
