"""core.json_input: callers' JSON goes through parse_json, which refuses what nests too deep."""

from __future__ import annotations

import pytest

from tokend.core.json_input import MAX_JSON_DEPTH, InvalidJson, parse_json


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def test_values_up_to_the_depth_limit_parse() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    assert parse_json('{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH) is not None
    assert parse_json(b'{"client_id":"x","client_secret":"y"}') == {
        "client_id": "x",
        "client_secret": "y",
    }
    assert parse_json("3") == 3


@pytest.mark.parametrize(
    "text",
    [
        nested(MAX_JSON_DEPTH + 1),
        '{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1),
        nested(100_000),  # past the interpreter's recursion limit
        "[" * 100_000,  # never closed
        "[" + "[]," * 500 + nested(MAX_JSON_DEPTH) + "]",  # wide and deep
    ],
    ids=["one-too-deep", "objects", "recursion-limit", "unclosed", "wide-then-deep"],
)
def test_deeper_values_are_invalid_json_not_a_recursion_error(text: str) -> None:
    with pytest.raises(InvalidJson, match="nests deeper"):
        parse_json(text)


def test_malformed_text_is_invalid_json_with_its_position() -> None:
    with pytest.raises(InvalidJson) as raised:
        parse_json('{"a": }')
    assert raised.value.position == 6
    with pytest.raises(InvalidJson, match="UTF-8"):
        parse_json(b"\xff\xfe")
    assert issubclass(InvalidJson, ValueError)
