from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokend.obs.redaction import REDACTED, _substitute, redact, redact_event, redact_text

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVlLWhlcmU"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "client_secret",
        "refresh_token",
        "Authorization",
        "api_key",
        "signing_key",
        "code",
    ],
)
def test_values_under_secret_names_are_redacted(key: str) -> None:
    assert redact_event(None, "info", {key: "s3cr3t-value"})[key] == REDACTED


def test_names_that_merely_contain_code_are_kept() -> None:
    event = redact_event(None, "info", {"status_code": 401, "error": "invalid_grant"})
    assert event == {"status_code": 401, "error": "invalid_grant"}


@pytest.mark.parametrize(
    "text",
    [
        f"got token {JWT} from client",
        "Authorization: Bearer abc.def-ghi",
        "header Basic dXNlcjpwYXNz",
        "GET /callback?state=x&code=SplxlOBeZQQYbYS6WxSbIA HTTP/1.1",
        "POST form client_secret=hunter22&grant_type=client_credentials",
        "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----",
    ],
)
def test_secret_shaped_strings_are_redacted_anywhere(text: str) -> None:
    cleaned = redact_text(text)
    assert REDACTED in cleaned
    for secret in (
        JWT,
        "abc.def-ghi",
        "dXNlcjpwYXNz",
        "SplxlOBeZQQYbYS6WxSbIA",
        "hunter22",
        "MIIEv",
    ):
        assert secret not in cleaned


def test_nested_structures_are_redacted() -> None:
    value = {"headers": {"authorization": "Bearer x"}, "items": [{"token": "t"}, JWT]}
    assert redact(value) == {
        "headers": {"authorization": REDACTED},
        "items": [{"token": REDACTED}, REDACTED],
    }


#: Pieces of what the secret patterns match, and of what they must not, to build texts from
#: ("ba\u017fic": a long s, which a case-insensitive match takes for "s").
_FRAGMENTS = (
    "eyJ", "eyJhbGciOiJIUzI1NiJ9", ".", "-", "_", "=", "&", "?", " ", "\n", "token", "code",
    "client_secret", "password", "Bearer ", "BASIC\t", "ba\u017fic ", "bearer", "-----BEGIN ",
    "PRIVATE KEY-----", "-----END PRIVATE KEY-----", "RSA ", "abc", "Z9+/", "u_1f", "\u00e9",
)  # fmt: skip


@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=4)), max_size=12))
def test_the_quick_check_skips_only_texts_no_pattern_could_change(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert redact_text(text) == _substitute(text)
