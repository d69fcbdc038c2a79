"""The one outbound HTTP client of a process: explicit timeouts, bounded pool."""

from __future__ import annotations

import httpx

from tokend import __version__

DEFAULT_TIMEOUT = httpx.Timeout(connect=3.0, read=10.0, write=10.0, pool=3.0)


def open_http_client() -> httpx.AsyncClient:
    """A shared AsyncClient; the app's lifespan closes it. Calls may pass a tighter timeout."""
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        headers={"User-Agent": f"tokend/{__version__}"},
        follow_redirects=False,
    )
