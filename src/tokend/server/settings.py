"""The HTTP server block (``TOKEND_SERVER__*``)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Literal

from pydantic import BaseModel, Field


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    #: uvicorn by measurement (README "Server choice", ``python -m bench.servers``): per core,
    #: as a CPU limit gives a replica, it serves tokens and introspection 7-10% faster; granian
    #: is faster on an unbounded box (its Rust I/O thread runs on a second core) and costs less
    #: CPU on the lighter routes. granian's one worker runs in this process (cli.granian_server).
    server: Literal["uvicorn", "granian"] = "uvicorn"
    #: Serve the hot endpoints (token, introspection, JWKS, gateway and broker tokens...) by a
    #: dict lookup ahead of FastAPI's stack (``tokend.server.lean``); off: every request goes
    #: through FastAPI. The answers are the same either way; off only to rule it out.
    lean_path: bool = True
    #: Reverse proxies (CIDR networks, e.g. the ingress controller's pod network) whose
    #: ``X-Forwarded-For`` / ``X-Forwarded-Proto`` name the client and its scheme: per-address
    #: rate limits and logs then see the client, not the proxy. None by default, not even
    #: loopback: from any other peer these headers are ignored (``server.peer``). The gateway's
    #: trust in Kong never uses the forwarded address, only the TCP peer.
    forwarded_allow_ips: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    #: Serve ``/docs`` and ``/openapi.json``; unset: everywhere but in production.
    api_docs: bool | None = None
    #: Body limit of a route that sets none (form and admin routes set smaller ones).
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    #: A request's head (line and headers) must arrive within this; the connection closes.
    header_timeout_s: float = Field(default=10.0, gt=0)
    #: A request's body must arrive within this of the request's start (408).
    body_timeout_s: float = Field(default=30.0, gt=0)
    #: The largest request head accepted (431 beyond).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    #: How long an idle keep-alive connection is held.
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    #: Connections (uvicorn) or requests in flight (granian) per worker before new ones are
    #: answered 503 (uvicorn) or wait (granian).
    max_connections: int = Field(default=1000, ge=1)
    #: On SIGINT/SIGTERM, requests in flight get this long to finish; then connections are
    #: closed (uvicorn) and a worker that has not stopped is killed (granian), so a stop never
    #: hangs (Kubernetes' default grace period is 30 s).
    shutdown_timeout_s: int = Field(default=10, ge=1, le=300)

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
