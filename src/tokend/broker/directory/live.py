"""The directory a running broker routes with: reload on demand or on file change, admin edits.

A reload that fails validation leaves the loaded directory in place. Admin edits are
validated, written back to the file atomically, then swapped in; with no file (the demo) they
live in memory only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import anyio
import anyio.to_thread
import structlog
from watchfiles import Change, awatch

from tokend.broker.directory.entry import TelcoEntry
from tokend.broker.directory.lookup import Directory
from tokend.broker.directory.validation import DirectoryInvalid, EntryRules, build_entry
from tokend.broker.directory.yaml_file import read_directory, write_directory
from tokend.core.errors import NotFound

log = structlog.get_logger("tokend.broker.directory")


class LiveDirectory:
    def __init__(self, initial: Directory, path: Path | None, rules: EntryRules) -> None:
        self._current = initial
        self.path = path
        self._rules = rules
        self._lock = anyio.Lock()

    @property
    def current(self) -> Directory:
        return self._current

    def get(self, prefix: str) -> TelcoEntry:
        """The entry for exactly ``prefix``; NotFound when there is none."""
        entry = self._current.entries.get(prefix)
        if entry is None:
            raise NotFound(f"no directory entry for prefix {prefix}")
        return entry

    async def reload(self) -> Directory:
        """Re-read the file; raises DirectoryInvalid and keeps the old directory if it is bad."""
        if self.path is None:
            return self._current
        async with self._lock:
            fresh = await anyio.to_thread.run_sync(read_directory, self.path, self._rules)
            self._current = fresh
        log.info("broker.directory.loaded", source=fresh.source, entries=len(fresh.entries))
        return fresh

    async def put(self, prefix: str, fields: Mapping[str, object]) -> TelcoEntry:
        """Add or replace the entry for ``prefix`` (an admin API call: no reference resolved)."""
        source = str(self.path) if self.path else "admin"
        entry = build_entry(prefix, fields, rules=self._rules.for_admin_api(), source=source)
        async with self._lock:
            await self._commit(self._current.with_entry(entry))
        log.info("broker.directory.entry_saved", prefix=prefix, operator=entry.operator_id)
        return entry

    async def delete(self, prefix: str) -> None:
        async with self._lock:
            if prefix not in self._current.entries:
                raise NotFound(f"no directory entry for prefix {prefix}")
            await self._commit(self._current.without(prefix))
        log.info("broker.directory.entry_deleted", prefix=prefix)

    async def watch(self) -> None:
        """Reload whenever the file changes, until cancelled. A bad file is logged and skipped."""
        if self.path is None:
            return
        target = self.path.resolve()

        def is_target(_change: Change, changed: str) -> bool:
            return Path(changed).resolve() == target

        async for _changes in awatch(
            target.parent,
            watch_filter=is_target,
            debounce=200,
            step=50,
            rust_timeout=500,
            recursive=False,
        ):
            try:
                await self.reload()
            except DirectoryInvalid as exc:
                log.warning(
                    "broker.directory.reload_rejected",
                    source=str(target),
                    problems=[str(p) for p in exc.problems],
                )

    async def _commit(self, directory: Directory) -> None:
        if self.path is not None:
            await anyio.to_thread.run_sync(write_directory, self.path, directory)
        self._current = directory
