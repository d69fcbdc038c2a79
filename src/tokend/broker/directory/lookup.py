"""An immutable, validated directory: entries by prefix and the trie that routes digits to them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.directory.trie import PrefixTrie
from tokend.core.phone_numbers import lookup_forms


@dataclass(frozen=True, slots=True)
class Directory:
    entries: Mapping[str, TelcoEntry]
    #: Where it came from (a file path, "demo", "empty"); named in messages.
    source: str
    _trie: PrefixTrie[TelcoEntry] = field(repr=False)

    @classmethod
    def of(cls, entries: Iterable[TelcoEntry], source: str) -> Directory:
        by_prefix = {e.prefix: e for e in sorted(entries, key=lambda e: (len(e.prefix), e.prefix))}
        trie = PrefixTrie((prefix, entry) for prefix, entry in by_prefix.items())
        return cls(MappingProxyType(by_prefix), source, trie)

    def longest_prefix(self, digits: str) -> TelcoEntry | None:
        """The entry whose prefix is the longest one ``digits`` starts with (seed 000 routing)."""
        return self._trie.longest_prefix(digits)

    def operator_for_number(self, digits: str) -> TelcoEntry | None:
        """The entry for an E.164 number's digits: international form first, then national."""
        for form in lookup_forms(digits):
            entry = self._trie.longest_prefix(form)
            if entry is not None:
                return entry
        return None

    def with_entry(self, entry: TelcoEntry) -> Directory:
        return Directory.of({**self.entries, entry.prefix: entry}.values(), self.source)

    def without(self, prefix: str) -> Directory:
        return Directory.of((e for p, e in self.entries.items() if p != prefix), self.source)
