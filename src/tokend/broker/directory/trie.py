"""Longest-prefix match over digit strings in O(length of the query), not a scan of prefixes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Node(Generic[T]):
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.value: T | None = None


class PrefixTrie(Generic[T]):
    """Immutable once built; a reload builds a new trie and swaps it in."""

    __slots__ = ("_root",)

    def __init__(self, items: Iterable[tuple[str, T]]) -> None:
        self._root: _Node[T] = _Node()
        for key, value in items:
            node = self._root
            for char in key:
                node = node.children.setdefault(char, _Node())
            node.value = value

    def longest_prefix(self, digits: str) -> T | None:
        """The value of the longest key that ``digits`` starts with, or None."""
        node, best = self._root, None
        for char in digits:
            child = node.children.get(char)
            if child is None:
                break
            node = child
            if node.value is not None:
                best = node.value
        return best
