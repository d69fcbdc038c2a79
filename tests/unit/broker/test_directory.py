"""The telco directory: the seed YAML, longest-prefix routing, E.164 input, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokend.broker.directory import (
    Directory,
    DirectoryInvalid,
    EntryRules,
    parse_directory,
    render_directory,
)
from tokend.broker.directory.trie import PrefixTrie
from tokend.core.phone_numbers import (
    MalformedNumber,
    country_code_length,
    digits_of_number,
    digits_of_query,
)
from tokend.core.urls import AllowedHosts

# Seed 000 deployment/data/telco_data.yaml, verbatim.
SEED_YAML = """\
prefixes:
    97205:
        base_url: http://telco-orange:8080
        client_id: ORANGE_DEMO_ID
        client_secret: ORANGE_DEMO_SECRET
    972050:
        base_url: http://telco-vodafone:8081
        client_id: VF_DEMO_ID
        client_secret: VF_DEMO_SECRET
    4477:
        base_url: http://telco-vodafone:8081
        client_id: VF_UK_ID
        client_secret: VF_UK_SECRET
"""


#: The seed's operators (and the short names of the cases below) are plain-http hosts on an
#: internal network: allowed by the setting that says so.
RULES = EntryRules(
    secrets={}, allowed_hosts=AllowedHosts.of(["telco-orange", "telco-vodafone", "a", "b"])
)


def seed_directory() -> Directory:
    return parse_directory(SEED_YAML, source="telco.yaml", rules=RULES)


def test_the_seed_file_is_read_as_is() -> None:
    directory = seed_directory()
    assert list(directory.entries) == ["4477", "97205", "972050"]
    orange = directory.entries["97205"]
    assert orange.base_url == "http://telco-orange:8080"
    assert orange.client_id == "ORANGE_DEMO_ID"
    assert orange.client_secret is not None
    assert orange.client_secret.value == "ORANGE_DEMO_SECRET"
    assert orange.adapter == "seed"
    assert orange.auth_method == "telco_auth"
    assert orange.token_url == "http://telco-orange:8080/api/demo/token"
    assert orange.operator_id == "telco-orange"
    assert "ORANGE_DEMO_SECRET" not in repr(orange)


@pytest.mark.parametrize(
    ("mcc", "sn", "expected"),
    [
        ("972", "05", "97205"),  # exact match
        ("972", "0501234567", "972050"),  # longer prefix wins: Vodafone
        ("972", "0527464600", "97205"),  # Orange
        ("44", "7700900123", "4477"),
        ("972", "0", None),  # shorter than every prefix
        ("44", "78", None),
        ("1", "2125550100", None),
    ],
)
def test_longest_prefix_routes_mcc_and_sn(mcc: str, sn: str, expected: str | None) -> None:
    entry = seed_directory().longest_prefix(digits_of_query(mcc, sn))
    assert (entry.prefix if entry else None) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("tel:+972527464600", "97205"),
        ("+972501234567", "972050"),
        ("TEL:+44-7700-900123", "4477"),
        ("+447700900123", "4477"),
        ("+1 (212) 555-0100", None),
    ],
)
def test_e164_numbers_route_like_mcc_and_sn(number: str, expected: str | None) -> None:
    entry = seed_directory().operator_for_number(digits_of_number(number))
    assert (entry.prefix if entry else None) == expected


@pytest.mark.parametrize(
    ("mcc", "sn", "message"),
    [
        ("", "05", "MCC must be between 1 to 3 digits"),
        (None, "05", "MCC must be between 1 to 3 digits"),
        ("ABC", "05", "MCC must be between 1 to 3 digits"),
        ("9720", "5", "MCC must be between 1 to 3 digits"),
        ("٩٧٢", "05", "MCC must be between 1 to 3 digits"),  # non-ASCII digits
        ("972", "", "SN cannot be empty"),
        ("972", "05a", "SN must contain digits only"),
        ("972", "0527464600123", "Total length must be less than 15"),
    ],
)
def test_malformed_queries_are_rejected(mcc: str | None, sn: str, message: str) -> None:
    with pytest.raises(MalformedNumber) as caught:
        digits_of_query(mcc, sn)
    assert caught.value.description == message
    assert caught.value.status == 400


@pytest.mark.parametrize(("digits", "length"), [("1212", 1), ("79", 1), ("4477", 2), ("97205", 3)])
def test_country_codes_have_their_e164_length(digits: str, length: int) -> None:
    assert country_code_length(digits) == length


def test_fifteen_digits_are_allowed() -> None:
    assert digits_of_query("972", "052746460012") == "972052746460012"


@pytest.mark.parametrize(
    "number", ["972527464600", "+", "+97252746460012345", "tel:972", "+97a", "", "++972"]
)
def test_malformed_e164_numbers_are_rejected(number: str) -> None:
    with pytest.raises(MalformedNumber, match=r"phone number must be E\.164"):
        digits_of_number(number)


@pytest.mark.parametrize(
    ("yaml_text", "line", "prefix", "message"),
    [
        (
            "prefixes:\n  972_05:\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: S\n",
            2,
            "972_05",
            "must be digits only",
        ),
        (
            "prefixes:\n  '97205':\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: S\n  97205:\n    base_url: http://b\n    client_id: B\n"
            "    client_secret: S\n",
            6,
            "97205",
            "duplicate prefix (first at line 2)",
        ),
        (
            "prefixes:\n  97205:\n    base_url: ftp://a\n    client_id: A\n    client_secret: S\n",
            3,
            "97205",
            "is not an absolute http(s) URL",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://a\n    client_id: A\n",
            2,
            "97205",
            "client_secret is missing",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: ${TOKEND_TELCO_SECRET_NOT_SET}\n",
            5,
            "97205",
            "refers to ${TOKEND_TELCO_SECRET_NOT_SET}, which is not set",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: ${TOKEND_SECRET_KEY}\n",
            5,
            "97205",
            "refers to ${TOKEND_SECRET_KEY}: only TOKEND_TELCO_SECRET_* variables",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://c:8080\n    client_id: A\n"
            "    client_secret: S\n",
            3,
            "97205",
            "base_url 'http://c:8080' must use https",
        ),
        (
            "prefixes:\n  97205:\n    base_url: https://10.0.0.7\n    client_id: A\n"
            "    client_secret: S\n",
            3,
            "97205",
            "base_url 'https://10.0.0.7' is not public",
        ),
        (
            "prefixes:\n  97205:\n    base_url: https://op.example\n    client_id: A\n"
            "    client_secret: S\n    token_url: https://127.0.0.1/token\n",
            6,
            "97205",
            "token_url 'https://127.0.0.1/token' is not public",
        ),
        (
            "prefixes:\n  97205:\n    base_url: https://op.example\n    client_id: A\n"
            "    client_secret: S\n    adapter: oauth2\n    grant_type: client_credentials\n",
            7,
            "97205",
            "grant_type client_credentials sends the operator no subscriber code",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: S\n    timout_s: 3\n",
            6,
            "97205",
            "unknown field 'timout_s'",
        ),
        (
            "prefixes:\n  97205:\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: S\n    adapter: soap\n",
            6,
            "97205",
            "adapter 'soap' is not one of seed, oauth2",
        ),
        (
            "prefixes:\n  '1234567890123456':\n    base_url: http://a\n    client_id: A\n"
            "    client_secret: S\n",
            2,
            "1234567890123456",
            "longer than 15 digits",
        ),
    ],
    ids=[
        "non-digit",
        "duplicate",
        "bad-url",
        "missing-secret",
        "unset-env",
        "unlisted-env",
        "plain-http",
        "private-address",
        "loopback-token-url",
        "no-subscriber-code",
        "unknown-field",
        "bad-adapter",
        "oversized",
    ],
)
def test_invalid_files_name_file_line_and_prefix(
    yaml_text: str, line: int, prefix: str, message: str
) -> None:
    with pytest.raises(DirectoryInvalid) as caught:
        parse_directory(yaml_text, source="dir.yaml", rules=RULES)
    text = str(caught.value)
    assert f"dir.yaml:{line}: prefix {prefix}: " in text
    assert message in text


@pytest.mark.parametrize(
    "yaml_text", ["", "- a list\n", "prefixes: [1, 2]\n", "other: {}\n", "prefixes: {a: [\n"]
)
def test_files_without_a_prefixes_mapping_are_invalid(yaml_text: str) -> None:
    with pytest.raises(DirectoryInvalid, match=r"dir\.yaml"):
        parse_directory(yaml_text, source="dir.yaml", rules=RULES)


def test_every_problem_is_reported_at_once() -> None:
    text = "prefixes:\n  x1:\n    base_url: http://a\n    client_id: A\n  '2':\n    client_id: B\n"
    with pytest.raises(DirectoryInvalid) as caught:
        parse_directory(text, source="dir.yaml", rules=RULES)
    assert len(caught.value.problems) >= 3


def test_optional_fields_and_env_secrets() -> None:
    text = """\
prefixes:
  "0123":
    name: Example Mobile
    base_url: https://op.example/
    client_id: broker
    client_secret: ${TOKEND_TELCO_SECRET_EXAMPLE}
    adapter: oauth2
    auth_method: client_secret_post
    grant_type: authorization_code
    token_url: https://op.example/oauth2/token
    scopes: openid number-verification
    timeout_s: 2.5
    enabled: false
"""
    rules = EntryRules(secrets={"TOKEND_TELCO_SECRET_EXAMPLE": "s3cr3t-value"})
    directory = parse_directory(text, source="d.yaml", rules=rules)
    entry = directory.entries["0123"]
    assert entry.operator_id == "example-mobile"
    assert entry.base_url == "https://op.example"
    assert entry.client_secret is not None
    assert entry.client_secret.value == "s3cr3t-value"
    assert entry.client_secret.env_name == "TOKEND_TELCO_SECRET_EXAMPLE"
    assert entry.scopes == ("openid", "number-verification")
    assert entry.timeout_s == 2.5
    assert entry.enabled is False
    # Written back, the reference stays a reference and the file reads the same.
    rendered = render_directory(directory)
    assert "${TOKEND_TELCO_SECRET_EXAMPLE}" in rendered
    assert "s3cr3t-value" not in rendered
    again = parse_directory(rendered, source="d.yaml", rules=rules)
    assert again.entries == directory.entries


def test_an_unquoted_leading_zero_prefix_keeps_its_digits() -> None:
    # PyYAML would read 0123 as octal 83 (seed 000 compat note); tokend keeps what was written.
    text = "prefixes:\n  0123:\n    base_url: http://a\n    client_id: A\n    client_secret: S\n"
    assert list(parse_directory(text, source="d", rules=RULES).entries) == ["0123"]


def _seed_scan(prefixes: list[str], query: str) -> str | None:
    # Seed 000 providers/abs_provider.py: prefixes by length descending, first startswith wins.
    for prefix in sorted(prefixes, key=len, reverse=True):
        if query.startswith(prefix):
            return prefix
    return None


@given(
    st.lists(st.text("0123456789", min_size=1, max_size=6), max_size=30, unique=True),
    st.text("0123456789", max_size=15),
)
def test_the_trie_agrees_with_the_seeds_scan(prefixes: list[str], query: str) -> None:
    trie = PrefixTrie((p, p) for p in prefixes)
    assert trie.longest_prefix(query) == _seed_scan(prefixes, query)
