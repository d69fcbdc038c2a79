"""compact_json writes what ``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``
wrote, and refuses what it refused."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokend.core.json_output import compact_json

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_SCALARS = st.none() | st.booleans() | _INT64 | st.text()
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text() | _INT64, inner, max_size=5)
    ),
    max_leaves=30,
)


def _standard(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@given(_VALUES)
def test_the_text_is_the_standard_librarys(value: Any) -> None:
    try:
        expected = _standard(value)
    except UnicodeEncodeError:  # a lone surrogate: refused by both
        with pytest.raises(UnicodeEncodeError):
            compact_json(value)
        return
    assert compact_json(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_read_back_as_the_same_number(number: float) -> None:
    assert json.loads(compact_json({"n": number})) == {"n": number}


def test_what_orjson_refuses_goes_through_the_standard_library() -> None:
    big = {"n": 2**70, "m": -(2**64)}
    assert compact_json(big) == _standard(big)


@dataclasses.dataclass
class _Record:
    name: str


@pytest.mark.parametrize("value", [datetime(2026, 1, 1, tzinfo=UTC), _Record("a")])
def test_what_the_standard_library_refuses_is_still_refused(value: object) -> None:
    with pytest.raises(TypeError):
        compact_json({"value": value})
