"""RFC 6749 §2.3.1: the client id and secret of HTTP Basic are form-urlencoded before the Basic
encoding, and decoded after it."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokend.core.errors import InvalidClient
from tokend.oidc.client_auth import presented_credentials
from tokend.oidc.records import AuthMethod


def _basic(client_id: str, secret: str) -> str:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


@given(st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_any_id_and_secret_come_back_as_the_client_encoded_them(
    client_id: str, secret: str
) -> None:
    presented = presented_credentials(_basic(client_id, secret), {})
    assert (presented.client_id, presented.secret) == (client_id, secret)
    assert presented.method is AuthMethod.CLIENT_SECRET_BASIC


@pytest.mark.parametrize(
    ("raw", "client_id", "secret"),
    [
        ("app%3A1:s%2Bcret", "app:1", "s+cret"),  # escapes
        ("my+app:a+b", "my app", "a b"),  # "+" is a space in form encoding
        ("plain-id:plain_secret-123", "plain-id", "plain_secret-123"),  # nothing to decode
    ],
)
def test_basic_parts_are_form_decoded(raw: str, client_id: str, secret: str) -> None:
    presented = presented_credentials("Basic " + base64.b64encode(raw.encode()).decode(), {})
    assert (presented.client_id, presented.secret) == (client_id, secret)


def test_basic_without_a_colon_is_invalid_client() -> None:
    with pytest.raises(InvalidClient):
        presented_credentials("Basic " + base64.b64encode(b"no-colon").decode(), {})
