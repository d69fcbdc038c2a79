"""Parsing JSON a caller sent: one exception type, and a bounded nesting depth.

``json.loads`` recurses once per nesting level, so ``[[[[...`` 100 000 levels deep raised
``RecursionError`` (not a ``ValueError``) and became a 500 with a stack trace wherever a caller's
JSON was parsed. Below the recursion limit a deep value still passed on to code that recurses
over it (validation, YAML, logging). :func:`parse_json` refuses both with :class:`InvalidJson`, a
``ValueError``, which every caller turns into its surface's 400 or 422.
"""

from __future__ import annotations

import json
from typing import Final

from tokend.core.errors import JsonValue

#: The deepest nesting accepted; tokend's documents (admin bodies, directory entries, token
#: headers and payloads) nest a handful of levels.
MAX_JSON_DEPTH: Final = 64


class InvalidJson(ValueError):
    """The text is not JSON, or nests deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self, reason: str, position: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: Where in the text decoding stopped, when the decoder said.
        self.position = position


def parse_json(data: str | bytes | bytearray) -> JsonValue:
    """The JSON value ``data`` holds (bytes are UTF-8); InvalidJson for anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError:
        raise InvalidJson("the JSON text is not UTF-8") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"not JSON: {exc.msg}", exc.pos) from None
    except RecursionError:
        raise InvalidJson(f"the JSON value nests deeper than {MAX_JSON_DEPTH} levels") from None
    # Counting brackets is done in C and bounds the depth: most texts skip the walk.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _nests_deeper(value):
        raise InvalidJson(f"the JSON value nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _nests_deeper(value: JsonValue) -> bool:
    # Iterative, so the check itself cannot hit the recursion limit.
    pending: list[tuple[JsonValue, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > MAX_JSON_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
