"""Which redirect and post-logout redirect URIs a client may register.

Checked where clients are made (admin API, CLI, demo data, all through ``ClientCreate``) and
again before the provider redirects anywhere, for rows stored before this check existed.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

#: Schemes that run code or read local files where a browser lands: never a redirect target.
DANGEROUS_SCHEMES: Final = frozenset({"javascript", "data", "file", "vbscript", "blob", "about"})
#: RFC 8252 §7.3 / §8.3: loopback interface redirection for native apps, by IP literal (and
#: ``localhost``, which the demo relying party and development setups use).
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "::1", "localhost"})


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or None when it can.

    https with a host; http only to a loopback host, any port (RFC 8252 §7.3); a private-use
    scheme only in reverse domain name notation, so with a dot (RFC 8252 §7.1). Absolute, no
    fragment (RFC 6749 §3.1.2), no wildcard (exact matching, RFC 9700 §4.1.3).
    """
    if uri != uri.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in uri):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a malformed or out-of-range port)
    except ValueError:
        return "is not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return "must be an absolute URI"
    if scheme in DANGEROUS_SCHEMES:
        return f"the {scheme}: scheme is not allowed"
    if "#" in uri:
        return "must not contain a fragment"
    if "*" in uri:
        return "wildcards are not allowed"
    if scheme == "https":
        return None if parts.hostname else "must be an absolute URI with a host"
    if scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return None
        return "http is only allowed for loopback addresses; use https"
    if "." in scheme:
        return None
    return (
        "use https, http on a loopback address, or a private-use scheme in reverse domain "
        "notation such as com.example.app:/callback (RFC 8252 §7.1)"
    )


def is_allowed_redirect_uri(uri: str) -> bool:
    return redirect_uri_problem(uri) is None
