"""What tokend may call: the outbound policy and its checks, with no I/O (security review item 8).

A target is callable when its URL is https (plain http only for a host the settings allow),
carries no credentials, names its host in a canonical form, and every address the host resolves
to is a public unicast address -- unless the settings allow the host, the address's network, or
private networks. :mod:`tokend.core.http` applies this policy to every request of the process's
one HTTP client and connects to the very addresses it checked; the vault checks the URLs its
tenants give it with the same functions before storing them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING, Final
from urllib.parse import SplitResult, urlsplit

if TYPE_CHECKING:
    from tokend.core.settings import HttpSettings

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: What ``allow_private_networks`` opens: RFC 1918, RFC 6598 (CGNAT) and RFC 4193 (ULA).
PRIVATE_NETWORKS: Final[tuple[Network, ...]] = tuple(
    ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
#: RFC 6052 §2.1: the well-known NAT64 prefix carries an IPv4 address in its last 32 bits.
_NAT64: Final = ip_network("64:ff9b::/96")
#: Numeric hosts inet_aton() and getaddrinfo() still read as IPv4 (``2130706433``, ``0x7f.1``,
#: ``0177.0.0.1``, ``127.1``): never written by anyone but a filter-dodger.
_LEGACY_NUMERIC: Final = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_LABEL: Final = r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?"
_HOST_NAME: Final = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_FORBIDDEN_CHARACTERS: Final = re.compile(r"[\x00-\x20\x7f\\]")
ALLOW_SETTING: Final = "TOKEND_HTTP__ALLOW_HOSTS"


class OutboundRefusal(ValueError):
    """A URL or an address tokend must not call; the message says why (no secrets in it)."""


@dataclass(frozen=True, slots=True)
class AllowedHost:
    """One ``allow_hosts`` entry naming a host: a name or an address, any port or one."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """The allow-list side of the policy; the default refuses everything but public https."""

    hosts: tuple[AllowedHost, ...] = ()
    networks: tuple[Network, ...] = ()
    private_networks: bool = False
    #: Origins discovery documents may name for endpoints besides their issuer's own.
    endpoint_origins: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, settings: HttpSettings, also_allow: Iterable[str] = ()) -> OutboundPolicy:
        """The policy of the ``TOKEND_HTTP__*`` block, plus entries the deployment adds itself
        (demo mode: its own server address)."""
        return cls.allowing(
            *settings.allow_hosts,
            *also_allow,
            private_networks=settings.allow_private_networks,
            endpoint_origins=settings.endpoint_origins,
        )

    @classmethod
    def allowing(
        cls,
        *entries: str,
        private_networks: bool = False,
        endpoint_origins: Iterable[str] = (),
    ) -> OutboundPolicy:
        """The default policy plus ``allow_hosts`` entries (:func:`parse_allowed`)."""
        hosts: list[AllowedHost] = []
        networks: list[Network] = []
        for entry in entries:
            allowed = parse_allowed(entry)
            if isinstance(allowed, AllowedHost):
                hosts.append(allowed)
            else:
                networks.append(allowed)
        return cls(
            hosts=tuple(hosts),
            networks=tuple(networks),
            private_networks=private_networks,
            endpoint_origins=frozenset(origin_of(o, strict=True) for o in endpoint_origins),
        )

    def names_host(self, host: str, port: int) -> bool:
        """Whether ``allow_hosts`` lists this host (and port), by name or address."""
        host = canonical_host(host)
        if any(entry.matches(host, port) for entry in self.hosts):
            return True
        literal = _ip(host)
        return literal is not None and any(literal in network for network in self.networks)

    def url_refusal(
        self, scheme: str, host: str, port: int | None, *, userinfo: bool
    ) -> str | None:
        """Why a URL with these parts must not be called, before any name is resolved."""
        if scheme not in SCHEMES:
            return f"the scheme {scheme or '(none)'!r} is not allowed (https only)"
        if userinfo:
            return "credentials in the URL are not allowed"
        if not host:
            return "the URL has no host"
        port = port if port is not None else DEFAULT_PORTS[scheme]
        shape = host_shape_refusal(host)
        if shape is not None:
            return shape
        if self.names_host(host, port):
            return None
        canonical = canonical_host(host)
        literal = _ip(canonical)
        if literal is not None:
            reason = self.address_refusal(literal)
            if reason is not None:
                return f"{literal} is {reason}"
        elif canonical == "localhost" or canonical.endswith(".localhost"):
            # RFC 6761 §6.3: these names are loopback whatever a resolver says; refused on
            # their face, before anything is stored that names them.
            return f"{host} is a loopback name"
        if scheme != "https":
            return f"plain http is allowed only to hosts {ALLOW_SETTING} lists"
        return None

    def address_refusal(self, address: Address) -> str | None:
        """Why connecting to ``address`` is not allowed, or None."""
        if any(address in network for network in self.networks):
            return None
        reason = address_kind(address)
        if reason == PRIVATE and self.private_networks:
            return None
        return reason

    def addresses_refusal(self, host: str, port: int, addresses: Sequence[Address]) -> str | None:
        """Why the connection to ``host`` must not be made, given every address it resolved
        to: one refused address refuses the host (an attacker's DNS answers them in any order)."""
        if self.names_host(host, port):
            return None
        for address in addresses:
            reason = self.address_refusal(address)
            if reason is not None:
                return f"{host} resolves to {reason} ({address})"
        return None

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be called, from the URL alone (no name is resolved)."""
        try:
            parts = split_url(url)
        except OutboundRefusal as exc:
            return str(exc)
        return self.url_refusal(
            parts.scheme,
            parts.hostname or "",
            parts.port,
            userinfo=parts.username is not None or parts.password is not None,
        )


PRIVATE: Final = "a private address"


def address_kind(address: Address) -> str | None:
    """What ``address`` is when it is not a public unicast address, in words; None when it is."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_kind(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if any(address in network for network in PRIVATE_NETWORKS):
        return PRIVATE
    if not address.is_global or address.is_reserved:
        return "a reserved address"
    return None


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64, compatible)."""
    if not isinstance(address, IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:  # RFC 4291 §2.5.5.1, deprecated
        return IPv4Address(int(address))
    return None


def canonical_host(host: str) -> str:
    """The host as the allow-list compares it and DNS sees it: lower case, no brackets, no
    final dot, an internationalized name in its A-label (punycode) form, an IPv6 address
    compressed."""
    host = _ascii(host.strip("[]").lower().rstrip(".")) or host
    literal = _ip(host)
    return literal.compressed if literal is not None else host


def host_shape_refusal(host: str) -> str | None:
    """Why ``host`` is not a plain DNS name or a canonical IP address, or None."""
    bare = host.strip("[]").lower()
    if _ip(bare) is not None:
        return None
    name = _ascii(bare.rstrip("."))
    if name is not None and _LEGACY_NUMERIC.fullmatch(name):
        return f"the numeric host {host!r} is not a dotted-quad IPv4 address"
    if name is None or _HOST_NAME.fullmatch(name) is None:
        return f"the host {host!r} is not a DNS name"
    return None


def _ascii(name: str) -> str | None:
    """``name`` as DNS carries it (IDNA A-labels), or None when it has no such form."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def split_url(url: str) -> SplitResult:
    """``url`` split, refusing what parsers disagree on (whitespace, controls, backslashes)."""
    if _FORBIDDEN_CHARACTERS.search(url):
        raise OutboundRefusal("the URL has spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        raise OutboundRefusal("the URL is malformed") from None
    return parts


def outbound_url(url: str) -> str:
    """A pydantic validator for a URL tokend will call: absolute http(s), a canonical host, no
    credentials, no fragment. Whether the settings allow its scheme and addresses is checked
    where they are known (``OutboundPolicy.refusal`` and the guarded client)."""
    parts = split_url(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise OutboundRefusal("must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefusal("credentials in the URL are not allowed")
    if parts.fragment:
        raise OutboundRefusal("must not have a fragment")
    shape = host_shape_refusal(parts.hostname)
    if shape is not None:
        raise OutboundRefusal(shape)
    return url


def origin_of(url: str, *, strict: bool = False) -> str:
    """RFC 6454 §4 origin of an http(s) URL: ``scheme://host[:port]``, the port only when it
    is not the scheme's default. ``strict``: the URL must be an origin alone (no path)."""
    parts = split_url(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise OutboundRefusal(f"{url!r} is not an http(s) URL")
    if strict and (parts.path not in ("", "/") or parts.query or parts.fragment):
        raise OutboundRefusal(f"{url!r} is not an origin (scheme://host[:port])")
    host = canonical_host(parts.hostname)
    shown = f"[{host}]" if ":" in host else host
    port = parts.port if parts.port is not None else DEFAULT_PORTS[parts.scheme]
    if port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{shown}"
    return f"{parts.scheme}://{shown}:{port}"


def parse_allowed(entry: str) -> AllowedHost | Network:
    """One ``allow_hosts`` entry: ``name``, ``name:port``, an address, ``[v6]:port`` or a CIDR."""
    text = entry.strip()
    if "/" in text:
        try:
            return ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not a network (CIDR, e.g. 10.0.0.0/8)") from None
    address = _ip(text.strip("[]"))
    if address is not None:  # an address alone (IPv6 with or without []): a one-address network
        return ip_network(address)
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname or "", parts.port
    except ValueError:
        raise ValueError(f"{entry!r} is not a host, host:port or CIDR") from None
    if not host or host_shape_refusal(host) is not None or parts.path or parts.username:
        raise ValueError(f"{entry!r} is not a host, host:port or CIDR")
    return AllowedHost(canonical_host(host), port)


def _ip(host: str) -> Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None
