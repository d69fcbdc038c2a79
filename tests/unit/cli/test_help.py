"""Every ``tokend … --help`` reads well: walks the whole command tree and renders each help.

The defects looked for are the ones a new user met: a type metavar on a flag (``--help <bool>``),
a Python type as a metavar (``<list[str]>``), help text eaten as markup (``[default: …]``), an
option with a default that does not show it, a free-text ``--only``, a list or show command
without ``--json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import get_args

import pytest
import typer
from typer import _click as click  # the click copy Typer's objects are made of
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from tokend.cli.main import CapabilityName, app
from tokend.config import MODULE_NAMES


def _commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and group, with the words that reach it, root first."""
    root = typer.main.get_command(app)

    def walk(
        path: tuple[str, ...], command: click.Command, parent: click.Context | None
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        yield path, command
        if isinstance(command, TyperGroup):
            ctx = click.Context(command, info_name=path[-1] if path else "tokend", parent=parent)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                yield from walk((*path, name), sub, ctx)

    yield from walk((), root, None)


COMMANDS = list(_commands())


def _words(text: str) -> str:
    return " ".join(text.split())


def test_the_walk_reaches_every_capability_command() -> None:
    paths = {" ".join(path) for path, _command in COMMANDS}
    expected = {
        "serve", "migrate", "keys rotate", "telco lookup", "clients update", "users list",
        "users show", "users update", "users disable", "users enable", "users delete",
        "users set-password", "clients list", "clients show", "clients delete",
        "clients disable", "clients enable",
        "gateway consumers list", "vault reencrypt", "config show",
    }  # fmt: skip
    assert expected <= paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "tokend" for p, _ in COMMANDS]
)
def test_help_has_none_of_the_known_defects(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    shown = result.stdout
    # A flag takes no value: no metavar at all, least of all a Python type.
    assert "<bool>" not in shown
    assert not re.search(r"<(list|tuple|dict|set)\[", shown), shown
    flat = _words(shown)
    ctx = click.Context(command, info_name=path[-1] if path else "tokend")
    for param in command.get_params(ctx):
        if not isinstance(param, TyperOption):
            continue
        record = param.get_help_record(ctx)
        assert record is not None, param.name
        options, text = record
        if param.is_flag:
            assert options == ", ".join(param.opts + param.secondary_opts) or "/" in options, (
                f"{param.name}: a flag shows a metavar: {options!r}"
            )
        # Help text is shown as written (Rich markup once ate "[default: …]").
        if param.help:
            assert _words(param.help) in flat, f"{param.name}: help text altered"
        # A real default is shown.
        if (
            not param.is_flag
            and param.default is not None
            and param.show_default is not False
            and not param.multiple
        ):
            assert "[default:" in text, f"{param.name}: default not shown"
    if path and path[-1] in {"list", "show"}:
        assert "--json" in shown, "a list or show command prints JSON with --json"


def test_serve_shows_its_defaults_and_offers_the_capabilities_as_choices() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    shown = _words(result.stdout)
    assert "[default: 127.0.0.1]" in shown
    assert "[default: 8000]" in shown
    assert "[default: 1]" in shown
    assert "<" + "|".join(MODULE_NAMES) + ">" in shown
    refused = CliRunner().invoke(app, ["serve", "--only", "nope"])
    assert refused.exit_code == 2
    assert "'nope' is not one of" in refused.output


def test_the_choices_of_only_are_the_capabilities() -> None:
    assert get_args(CapabilityName) == MODULE_NAMES


def test_keys_rotate_shows_what_its_default_is() -> None:
    result = CliRunner().invoke(app, ["keys", "rotate", "--help"], terminal_width=200)
    assert "[default: the access token algorithm]" in _words(result.stdout)


def test_shell_completion_completes_the_capabilities_of_only() -> None:
    # What the script from `tokend --show-completion bash` runs on each <TAB>.
    completed = CliRunner().invoke(
        app,
        [],
        env={
            "_TOKEND_COMPLETE": "complete_bash",
            "COMP_WORDS": "tokend serve --only g",
            "COMP_CWORD": "3",
        },
        prog_name="tokend",
    )
    assert completed.stdout.split() == ["gateway", "guard"]
