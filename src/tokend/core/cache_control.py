"""The response headers that keep a token, code or secret out of every cache.

RFC 6749 §5.1 asks both of token responses (``Pragma`` for HTTP/1.0 caches); tokend sends the
same pair with every response that carries a credential or per-user state, so no surface can
forget one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

#: RFC 9111 §5.2.2.5 ``no-store`` plus RFC 6749 §5.1's ``Pragma: no-cache``.
NO_STORE: Final[Mapping[str, str]] = MappingProxyType(
    {"Cache-Control": "no-store", "Pragma": "no-cache"}
)
