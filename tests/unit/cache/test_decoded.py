"""``DecodedCopies``: a key's bytes are decoded once while they stay the same, other bytes are
decoded afresh, a failed decoding keeps nothing, and the copies are bounded."""

from __future__ import annotations

import json

import pytest

from tokend.cache.decoded import MISS, DecodedCopies
from tokend.cache.memory import MemoryCache
from tokend.core.clock import FrozenClock


def counting() -> tuple[DecodedCopies[object], list[bytes]]:
    decoded: list[bytes] = []

    def decode(raw: bytes) -> object:
        decoded.append(raw)
        return json.loads(raw)

    return DecodedCopies(decode, max_items=2), decoded


def test_the_same_bytes_are_decoded_once_and_other_bytes_afresh() -> None:
    copies, decoded = counting()
    first = copies("k", b'{"a": 1}')
    assert copies("k", b'{"a": 1}') is first  # equal bytes, not only the same object
    assert decoded == [b'{"a": 1}']
    assert copies("k", b'{"a": 2}') == {"a": 2}
    assert copies("other", b'{"a": 1}') == {"a": 1}  # per key
    assert decoded == [b'{"a": 1}', b'{"a": 2}', b'{"a": 1}']


def test_bytes_that_fail_to_decode_keep_nothing() -> None:
    copies, decoded = counting()
    copies("k", b"[1]")
    with pytest.raises(json.JSONDecodeError):
        copies("k", b"not json")
    assert copies("k", b"[1]") == [1]
    assert decoded == [b"[1]", b"not json"]  # the old copy was kept, not decoded again


def test_the_copies_are_bounded() -> None:
    copies, decoded = counting()
    for key in ("a", "b", "c", "a"):
        copies(key, b"1")
        assert len(copies) <= 2
    assert decoded == [b"1"] * 4  # "a" was dropped with the others when "c" came


async def test_read_answers_the_decoded_entry_or_miss() -> None:
    cache = MemoryCache(10, FrozenClock())
    copies, decoded = counting()
    assert await copies.read(cache, "k") is MISS  # no entry
    await cache.set("k", b"not json")
    assert await copies.read(cache, "k") is MISS  # not an entry of ours
    await cache.set("k", b'{"a": 1}')
    first = await copies.read(cache, "k")
    assert first == {"a": 1}
    assert await copies.read(cache, "k") is first
    assert decoded == [b"not json", b'{"a": 1}']
