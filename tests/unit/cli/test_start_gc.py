"""The garbage collector waits while ``tokend`` loads its modules and while ``serve`` builds
the app, and is on again whatever happens next (a collector left off would let cyclic garbage
pile up for the life of the process)."""

from __future__ import annotations

import gc
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokend.cli.main import app
from tokend.store import migrate
from tokend.store.settings import DatabaseSettings


def test_the_entry_point_loads_the_command_line_with_the_collector_off() -> None:
    # tokend.__main__.run as the `tokend` script and `python -m tokend` call it, with the
    # command line's main replaced by one that says what it found.
    code = (
        "import gc, tokend.cli as cli\n"
        "cli.main = lambda: print(gc.isenabled())\n"
        "from tokend.__main__ import run\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_the_command_line_turns_the_collector_on_before_a_command_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module: the package tokend.cli exports its function under the same name.
    main_module = importlib.import_module("tokend.cli.main")
    states: list[bool] = []
    monkeypatch.setattr(main_module, "app", lambda: states.append(gc.isenabled()))
    gc.disable()
    try:
        main_module.main()
    finally:
        gc.enable()
    assert states == [True]


def test_a_serve_that_fails_before_serving_leaves_the_collector_on(tmp_path: Path) -> None:
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}")
    migrate.upgrade(settings, "0001")  # an old schema: serve refuses it after building the app
    env = {"TOKEND_DATABASE__URL": settings.url, "TOKEND_SECRET_KEY": "x" * 48}
    assert gc.isenabled()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
        left_on = gc.isenabled()
    finally:
        gc.enable()  # the rest of this test process needs it either way
    assert result.exit_code == 2, result.output
    assert left_on
