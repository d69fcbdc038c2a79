"""``core.forms.form_pairs``: the urlencoded form reader gives what the standard library's
``parse_qsl`` gives (with the options tokend reads forms with), on any text."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tokend.core.forms import MAX_FIELDS, form_pairs


def standard(text: str) -> list[tuple[str, str]] | str:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                         max_num_fields=MAX_FIELDS)  # fmt: skip
    except ValueError as exc:
        return str(exc)


def ours(text: str) -> list[tuple[str, str]] | str:
    try:
        return form_pairs(text)
    except ValueError as exc:
        return str(exc)


# What forms are made of, and what makes them odd: separators, escapes (valid, truncated, not
# hex, of invalid UTF-8), "+", ";" (not a separator since Python 3.10), non-ASCII.
_parts = st.sampled_from(["&", "=", "+", "%", "%2", "%41", "%zz", "%C3%A9", "%FF", "%e2%82", ";",
                          "a", "scope", "api%3Aread", "é", " ", "\x00"])  # fmt: skip


@settings(max_examples=2000, database=None, deadline=None)
@given(st.one_of(st.lists(_parts, max_size=30).map("".join), st.text(max_size=60)))
@example("")
@example("&")
@example("a")
@example("a=")
@example("=b")
@example("a=b=c")
@example("grant_type=client_credentials&scope=api%3Aread")
@example("a=%FF+b")
@example("&".join(["a=1"] * MAX_FIELDS))
@example("&".join(["a=1"] * (MAX_FIELDS + 1)))
@example("&" * MAX_FIELDS)
def test_the_form_reads_as_parse_qsl_reads_it(text: str) -> None:
    assert ours(text) == standard(text)


def test_more_fields_than_the_limit_are_refused() -> None:
    assert len(form_pairs("&".join(["a=1"] * MAX_FIELDS))) == MAX_FIELDS
    with pytest.raises(ValueError, match="Max number of fields exceeded"):
        form_pairs("&".join(["a=1"] * (MAX_FIELDS + 1)))
