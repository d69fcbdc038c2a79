"""Whether an upstream URL an operator configured may be called: checked when it is configured.

https only, at a public address. Plain http, and hosts that are loopback, link-local, private
or otherwise not globally routable, only for the hosts an allow-list names (a setting of the
capability that calls them). A host is judged by what the URL says: an IP literal in any form
the resolver would accept (``127.1``, ``2130706433``, ``[::ffff:127.0.0.1]``) and the loopback
names of RFC 6761 §6.3. Where a host *name* resolves is the outbound client's check when it
connects; this one refuses what is wrong on its face, before anything is stored.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)
from typing import Final
from urllib.parse import urlsplit

IPAddress = IPv4Address | IPv6Address
#: RFC 6761 §6.3: ``localhost`` and every name under it are loopback.
_LOOPBACK_NAME: Final = "localhost"


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """Hosts that may be reached over plain http and at non-public addresses: exact names
    (case-insensitive) and IP networks (an address is a /32 or /128)."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowedHosts:
        """``entries`` as written in a setting: host names, IP addresses or CIDR networks."""
        names: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for entry in entries:
            text = entry.strip().strip("[]")
            try:
                networks.append(ip_network(text, strict=False))
            except ValueError:
                names.add(_normal_name(text))
        return cls(frozenset(names), tuple(networks))

    def allows(self, host: str) -> bool:
        address = host_address(host)
        if address is not None:
            return any(address in network for network in self.networks)
        return _normal_name(host) in self.names


def host_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form a resolver accepts; None for a name."""
    text = host.strip("[]")
    try:
        return ip_address(text)
    except ValueError:
        pass
    try:
        # inet_aton is what getaddrinfo falls back to for IPv4: "127.1", "0x7f.1", "2130706433".
        return IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def is_public_host(host: str) -> bool:
    """False for loopback names and for IP addresses that are not globally routable
    (loopback, link-local, private, shared, reserved, unspecified, multicast)."""
    address = host_address(host)
    if address is None:
        name = _normal_name(host)
        return name != _LOOPBACK_NAME and not name.endswith("." + _LOOPBACK_NAME)
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def upstream_url_problem(url: str, allowed: AllowedHosts) -> str | None:
    """Why tokend must not call ``url``, or None: an absolute http(s) URL without credentials,
    https unless its host is allowed, at a public address unless its host is allowed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return f"{url!r} is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an absolute http(s) URL"
    if parts.username is not None or parts.password is not None:
        return f"{url!r} must not carry credentials"
    if allowed.allows(host):
        return None
    if parts.scheme != "https":
        return f"{url!r} must use https (plain http: only allowed hosts)"
    if not is_public_host(host):
        return f"{url!r} is not public (loopback, private, link-local: allowed hosts only)"
    return None


def _normal_name(host: str) -> str:
    return host.lower().rstrip(".")
