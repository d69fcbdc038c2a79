"""Phone numbers as CIBA ``tel:`` login hints compare them: E.164, global numbers only."""

from __future__ import annotations

import pytest

from tokend.oidc.phone_numbers import e164, e164_of_tel_uri


@pytest.mark.parametrize(
    ("stored", "key"),
    [
        ("+49 151 12345678", "+4915112345678"),
        ("+1 (201) 555-0123", "+12015550123"),
        ("+44.20.7946.0958", "+442079460958"),
        ("0151 12345678", None),  # no country: not a global number
        ("+1 201 555 0123;ext=7", None),
        ("+0 123456", None),
        ("+1234567890123456", None),  # 16 digits: longer than E.164 allows
        ("+12 abc 3456", None),
        (None, None),
    ],
)
def test_stored_numbers_are_keyed_in_e164(stored: str | None, key: str | None) -> None:
    assert e164(stored) == key


def test_tel_uris_name_global_numbers_only() -> None:
    assert e164_of_tel_uri("tel:+49-151-12345678") == "+4915112345678"
    assert e164_of_tel_uri("TEL:+4915112345678") == "+4915112345678"
    assert e164_of_tel_uri("tel:0151-12345678;phone-context=+49") is None
    assert e164_of_tel_uri("+4915112345678") is None
    assert e164_of_tel_uri("sms:+4915112345678") is None
