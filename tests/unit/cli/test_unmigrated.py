"""A command on a database `tokend migrate` has not prepared says so in one line, exit 2."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from tokend.cli.main import app
from tokend.store import migrate
from tokend.store.schema_head import HEAD_REVISION, at_head
from tokend.store.settings import DatabaseSettings

COMMANDS = [
    ["users", "list"],
    ["users", "show", "u_x"],
    ["clients", "list"],
    ["clients", "delete", "c_x"],
    ["keys", "list"],
    ["keys", "rotate"],
    ["gateway", "consumers", "list"],
    ["vault", "reencrypt"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_command_on_an_empty_database_says_run_migrate(
    command: list[str], tmp_path: Path
) -> None:
    env = {"TOKEND_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"}
    result = CliRunner().invoke(app, command, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tokend: ")
    assert lines[0].endswith("run `tokend migrate`")


def test_schema_behind_names_a_missing_and_an_old_schema_and_accepts_head(tmp_path: Path) -> None:
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}")
    assert asyncio.run(migrate.schema_behind(settings)) == "the database has no tokend schema"
    migrate.upgrade(settings, "0001")
    behind = asyncio.run(migrate.schema_behind(settings))
    assert behind is not None
    assert "older than this tokend's" in behind
    migrate.upgrade(settings)
    assert asyncio.run(migrate.schema_behind(settings)) is None


def test_a_schema_migrated_by_a_newer_release_is_accepted(tmp_path: Path) -> None:
    # A rolling upgrade: the new release migrated; old replicas keep serving meanwhile.
    path = tmp_path / "tokend.db"
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{path}")
    migrate.upgrade(settings)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    assert asyncio.run(migrate.schema_behind(settings)) is None


def test_migrate_says_how_many_migrations_it_ran_then_that_it_is_up_to_date(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokend.db"
    env = {"TOKEND_DATABASE__URL": f"sqlite+aiosqlite:///{path}"}
    settings = DatabaseSettings(url=env["TOKEND_DATABASE__URL"])
    migrate.upgrade(settings, "0002")
    first = CliRunner().invoke(app, ["migrate"], env=env)
    assert first.exit_code == 0, first.output
    head = asyncio.run(migrate.current_revisions(settings))
    assert len(head) == 1
    expected = migrate.steps_between(settings, ("0002",), head)
    assert expected > 1
    assert f"migrated: {expected} migrations, revision 0002 -> {head[0]}" in first.stdout
    again = CliRunner().invoke(app, ["migrate"], env=env)
    assert again.exit_code == 0, again.output
    assert f"is up to date (revision {head[0]})" in again.stdout


def test_the_head_revision_the_start_up_check_knows_is_alembics(tmp_path: Path) -> None:
    # store.schema_head answers "at head" without Alembic: its constant must follow the scripts.
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}")
    script = ScriptDirectory.from_config(migrate.alembic_config(settings))
    assert script.get_heads() == [HEAD_REVISION]
    assert asyncio.run(at_head(settings)) is False  # no schema: Alembic is asked
    migrate.upgrade(settings, "0001")
    assert asyncio.run(at_head(settings)) is False
    migrate.upgrade(settings)
    assert asyncio.run(at_head(settings)) is True


def test_serve_refuses_an_old_schema_in_one_line(tmp_path: Path) -> None:
    settings = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'tokend.db'}")
    migrate.upgrade(settings, "0001")
    env = {"TOKEND_DATABASE__URL": settings.url, "TOKEND_SECRET_KEY": "x" * 48}
    result = CliRunner().invoke(app, ["serve", "--port", "1"], env=env)
    assert result.exit_code == 2, result.output
    assert "older than this tokend's" in result.stderr
    assert result.stderr.rstrip().endswith("run `tokend migrate`")
