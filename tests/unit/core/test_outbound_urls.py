"""OutboundPolicy.refusal: which URLs an operator may configure (broker directory, vault
clients), judged from the URL alone before anything is stored."""

from __future__ import annotations

import pytest

from tokend.core.outbound import OutboundPolicy

NOTHING = OutboundPolicy()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",  # what inet_aton, and so the resolver, reads as 127.0.0.1
        "2130706433",
        "0x7f000001",
        "0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # RFC 6598 shared address space
        "169.254.169.254",  # link-local: cloud metadata
        "[fe80::1]",
        "[fd00::1]",
        "224.0.0.1",
        "localhost",
        "LOCALHOST.",
        "api.localhost",  # RFC 6761 §6.3
    ],
)
def test_loopback_private_and_link_local_hosts_are_refused(host: str) -> None:
    assert NOTHING.refusal(f"https://{host}/token") is not None


@pytest.mark.parametrize(
    "url",
    ["https://operator.example/token", "https://8.8.8.8:8443", "https://[2001:4860:4860::8888]/"],
)
def test_https_at_a_public_address_passes_by_default(url: str) -> None:
    assert NOTHING.refusal(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://operator.example", "plain http"),
        ("https://user:pass@operator.example", "credentials"),
        ("ftp://operator.example", "scheme"),
        ("https:///token", "no host"),
        ("https://operator.example:99999", "malformed"),
    ],
)
def test_what_is_wrong_on_its_face_is_refused_with_the_reason(url: str, why: str) -> None:
    refusal = NOTHING.refusal(url)
    assert refusal is not None
    assert why in refusal


def test_allowed_hosts_may_be_plain_http_and_internal_by_name_address_or_network() -> None:
    allowed = OutboundPolicy.allowing("telco-orange", "127.0.0.1", "10.0.0.0/8", "[::1]")
    for url in (
        "http://telco-orange:8080",
        "http://TELCO-ORANGE.:8080",
        "http://127.0.0.1:9000",
        "http://10.9.9.9",
        "http://[::1]:8080",
    ):
        assert allowed.refusal(url) is None, url
    for url in ("http://127.0.0.2", "http://telco-vodafone", "http://11.0.0.1", "http://127.1"):
        assert allowed.refusal(url) is not None, url
    # Allowing a host does not allow credentials in its URL.
    assert allowed.refusal("http://u:p@telco-orange") is not None
