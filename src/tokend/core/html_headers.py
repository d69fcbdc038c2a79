"""The one security-header policy of every HTML page tokend renders (provider, vault, ...).

Pages are never framed (clickjacking: ``frame-ancestors`` of CSP Level 2, and
``X-Frame-Options`` of RFC 7034 for older browsers), run no script and load styles and images
from this origin only (CSP), are never sniffed into another type, leak no URL in the
``Referer``, and are never cached (they may carry one-time values).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from starlette.responses import HTMLResponse

from tokend.core.cache_control import NO_STORE

HTML_PAGE_HEADERS: Final[Mapping[str, str]] = MappingProxyType(
    {
        **NO_STORE,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'",
    }
)


def html_page(body: str, status: int = 200) -> HTMLResponse:
    """An HTML response carrying :data:`HTML_PAGE_HEADERS`."""
    return HTMLResponse(body, status_code=status, headers=HTML_PAGE_HEADERS)
