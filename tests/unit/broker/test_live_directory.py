"""Reloading the directory: on demand, on file change, admin edits written back to the YAML."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.log_lines import LogLines
from tokend.broker.directory import (
    Directory,
    DirectoryInvalid,
    EntryRules,
    LiveDirectory,
    read_directory,
)
from tokend.core.errors import NotFound
from tokend.core.urls import AllowedHosts

ORANGE = """\
prefixes:
  97205:
    base_url: http://telco-orange:8080
    client_id: ORANGE_DEMO_ID
    client_secret: ${TOKEND_TELCO_SECRET_ORANGE}
"""
WITH_VODAFONE = (
    ORANGE
    + """\
  972050:
    base_url: http://telco-vodafone:8081
    client_id: VF_DEMO_ID
    client_secret: VF_DEMO_SECRET
"""
)
RULES = EntryRules(
    secrets={"TOKEND_TELCO_SECRET_ORANGE": "orange-secret-from-env"},
    allowed_hosts=AllowedHosts.of(["telco-orange", "telco-vodafone", "v"]),
)


async def _loaded(path: Path, text: str) -> LiveDirectory:
    path.write_text(text)  # noqa: ASYNC240  (test set-up on a tmp file)
    live = LiveDirectory(Directory.of((), "empty"), path, RULES)
    await live.reload()
    return live


def _route(live: LiveDirectory, digits: str) -> str | None:
    entry = live.current.longest_prefix(digits)
    return entry.prefix if entry else None


async def test_a_reload_that_adds_and_removes_a_prefix_takes_effect(tmp_path: Path) -> None:
    path = tmp_path / "telco.yaml"
    live = await _loaded(path, ORANGE)
    assert _route(live, "9720501234") == "97205"
    path.write_text(WITH_VODAFONE)
    await live.reload()
    assert _route(live, "9720501234") == "972050"
    path.write_text(ORANGE)
    await live.reload()
    assert _route(live, "9720501234") == "97205"


async def test_an_invalid_reload_keeps_the_loaded_directory(tmp_path: Path) -> None:
    path = tmp_path / "telco.yaml"
    live = await _loaded(path, WITH_VODAFONE)
    before = live.current
    path.write_text(WITH_VODAFONE.replace("http://telco-vodafone:8081", "not a url"))
    with pytest.raises(DirectoryInvalid, match=r"telco\.yaml:7: prefix 972050: base_url"):
        await live.reload()
    assert live.current is before
    path.unlink()
    with pytest.raises(DirectoryInvalid, match="cannot read"):
        await live.reload()
    assert live.current is before


async def test_a_changed_file_is_reloaded_by_the_watcher(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    logs = LogLines(capfd)
    path = tmp_path / "telco.yaml"
    live = await _loaded(path, ORANGE)
    before = live.current
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(live.watch)
        # The watcher does not say when it has started watching, so the broken file is written
        # again until the watcher has read it and logged it rejected.
        with anyio.fail_after(10):
            while not logs.named("broker.directory.reload_rejected"):
                path.write_text("prefixes: [broken\n")
                await anyio.sleep(0.1)
        (rejected, *_) = logs.named("broker.directory.reload_rejected")
        assert (rejected["level"], rejected["source"]) == ("warning", str(path.resolve()))
        assert live.current is before  # rejected: the old directory stays
        path.write_text(WITH_VODAFONE)
        with anyio.fail_after(10):
            while _route(live, "9720501234") != "972050":  # noqa: ASYNC110  (no event)
                await anyio.sleep(0.05)
        tasks.cancel_scope.cancel()


async def test_admin_edits_are_written_back_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "telco.yaml"
    live = await _loaded(path, ORANGE)
    # Item 1: an admin edit resolves no reference, not even one the file itself may use.
    for reference in ("${TOKEND_TELCO_SECRET_ORANGE}", "${UK}"):
        with pytest.raises(DirectoryInvalid, match="resolved only from the directory file"):
            await live.put(
                "4477",
                {"base_url": "http://v:8081", "client_id": "VF_UK_ID", "client_secret": reference},
            )
    saved = await live.put(
        "4477",
        {"base_url": "http://v:8081", "client_id": "VF_UK_ID", "client_secret": "VF_UK_SECRET"},
    )
    assert saved.operator_id == "v"
    assert _route(live, "447700900123") == "4477"
    text = path.read_text()
    assert "${TOKEND_TELCO_SECRET_ORANGE}" in text  # references stay references
    assert "orange-secret-from-env" not in text
    assert list(read_directory(path, RULES).entries) == ["4477", "97205"]
    await live.delete("97205")
    assert list(read_directory(path, RULES).entries) == ["4477"]
    with pytest.raises(NotFound, match="no directory entry for prefix 97205"):
        await live.delete("97205")
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # noqa: ASYNC240
    assert not leftovers  # the atomic write left no temp file behind
