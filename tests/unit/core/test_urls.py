"""core.urls: which upstream URLs an operator may configure, and which hosts need allowing."""

from __future__ import annotations

import pytest

from tokend.core.urls import AllowedHosts, is_public_host, upstream_url_problem

NOTHING = AllowedHosts()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # what inet_aton, and so the resolver, reads as 127.0.0.1
        "2130706433",
        "0x7f000001",
        "0",
        "::1",
        "::ffff:127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # RFC 6598 shared address space
        "169.254.169.254",  # link-local: cloud metadata
        "fe80::1",
        "fd00::1",
        "224.0.0.1",
        "localhost",
        "LOCALHOST.",
        "api.localhost",  # RFC 6761 §6.3
    ],
)
def test_loopback_private_and_link_local_hosts_are_not_public(host: str) -> None:
    assert not is_public_host(host)


@pytest.mark.parametrize("host", ["8.8.8.8", "2001:4860:4860::8888", "operator.example", "a"])
def test_public_addresses_and_other_names_are_public(host: str) -> None:
    assert is_public_host(host)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://operator.example/token", None),
        ("https://8.8.8.8:8443", None),
        ("http://operator.example", "must use https"),
        ("https://10.1.2.3", "is not public"),
        ("https://[::1]:8443/", "is not public"),
        ("https://localhost", "is not public"),
        ("https://user:pass@operator.example", "must not carry credentials"),
        ("ftp://operator.example", "is not an absolute http(s) URL"),
        ("https:///token", "is not an absolute http(s) URL"),
        ("https://operator.example:99999", "is not a valid URL"),
    ],
)
def test_only_https_at_a_public_address_passes_by_default(url: str, problem: str | None) -> None:
    found = upstream_url_problem(url, NOTHING)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_allowed_hosts_may_be_plain_http_and_internal_by_name_address_or_network() -> None:
    allowed = AllowedHosts.of(["telco-orange", "127.0.0.1", "10.0.0.0/8", "[::1]"])
    for url in (
        "http://telco-orange:8080",
        "http://TELCO-ORANGE.:8080",
        "http://127.0.0.1:9000",
        "http://127.1:9000",  # the same address, written otherwise
        "http://10.9.9.9",
        "http://[::1]:8080",
    ):
        assert upstream_url_problem(url, allowed) is None, url
    for url in ("http://127.0.0.2", "http://telco-vodafone", "http://11.0.0.1"):
        assert upstream_url_problem(url, allowed) is not None, url
    # Allowing a host does not allow credentials in its URL.
    assert upstream_url_problem("http://u:p@telco-orange", allowed) is not None
