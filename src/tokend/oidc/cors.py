"""CORS for browser-based clients (single-page apps): which origins may read the answers of
``/token``, ``/revoke``, ``/introspect`` and ``/userinfo`` (Fetch standard, CORS protocol).

Each client lists its web origins, or ``+`` for the origins of its redirect URIs (as Keycloak
does). An answer names the request's ``Origin`` only when the client allows it, and never
allows credentials (cookies): these endpoints authenticate with the form or a bearer token, so
nothing ambient may ride along cross-origin. Discovery and the JWK Set are public (``*``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from tokend.oidc.records import Client
from tokend.oidc.redirect_uris import LOOPBACK_HOSTS

DERIVED: Final = "+"
#: What a preflight allows: the methods and request headers these endpoints use.
ALLOW_METHODS: Final = "GET, POST"
ALLOW_HEADERS: Final = "Authorization, Content-Type, DPoP"
PREFLIGHT_MAX_AGE_S: Final = 600
PUBLIC: Final[Mapping[str, str]] = {"Access-Control-Allow-Origin": "*"}


def web_origin_problem(origin: str) -> str | None:
    """Why ``origin`` cannot be a web origin, or None: ``+``, or scheme://host[:port] with https
    (http only on a loopback host) and nothing after it."""
    if origin == DERIVED:
        return None
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018  (raises ValueError on a malformed port)
    except ValueError:
        return "is not a valid origin"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be https://host[:port] (or + for the redirect URIs' origins)"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "must use https unless on a loopback address"
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        return "is scheme://host[:port] alone, without a path"
    return None


def _origin_of(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def origins_of(client: Client) -> frozenset[str]:
    """The origins ``client`` allows, with ``+`` expanded."""
    found: set[str] = set()
    for origin in client.web_origins:
        if origin == DERIVED:
            found.update(o for o in map(_origin_of, client.redirect_uris) if o is not None)
        else:
            found.add(origin.lower().rstrip("/"))
    return frozenset(found)


def cors_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    """The headers that let ``origin`` read the answer; none when it may not. Never
    ``Access-Control-Allow-Credentials``."""
    headers = {"Vary": "Origin"}
    if origin and origin != "null" and origin.lower() in allowed:
        headers["Access-Control-Allow-Origin"] = origin
    return headers


def preflight_headers(origin: str | None, allowed: frozenset[str]) -> dict[str, str]:
    headers = cors_headers(origin, allowed)
    if "Access-Control-Allow-Origin" in headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ALLOW_HEADERS,
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
            }
        )
    return headers


@dataclass(slots=True)
class RegisteredOrigins:
    """Every client's origins together, for what no single client can be named for: a
    preflight (it carries no client_id) and ``/userinfo`` (bearer tokens, no cookies).
    Loaded from the registry and kept ``ttl_s`` seconds."""

    load: Callable[[], Awaitable[Sequence[Client]]]
    ttl_s: float
    _origins: frozenset[str] = field(default=frozenset())
    _loaded_at: float | None = None

    async def all(self) -> frozenset[str]:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at > self.ttl_s:
            clients = await self.load()
            self._origins = frozenset().union(*(origins_of(c) for c in clients))
            self._loaded_at = now
        return self._origins
