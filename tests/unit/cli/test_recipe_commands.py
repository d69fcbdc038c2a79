"""Every ``tokend …`` command in the recipes (docs/recipes/*.md) is one tokend takes: each names
a command that exists, with options it has and values it accepts."""

from __future__ import annotations

import pytest
import typer
from typer._click import Context  # the click copy Typer's objects are made of
from typer._click.exceptions import MissingParameter
from typer.core import TyperGroup, TyperOption

from tests.recipes import RECIPES, shell_commands
from tokend.cli.main import app

CASES = [
    pytest.param(words, id=f"{path.stem}: tokend {' '.join(words)}")
    for path in sorted(RECIPES.glob("*.md"))
    for words in shell_commands(path, "tokend")
]


def parse(words: list[str]) -> Context:
    """``tokend WORDS`` parsed as the command line would, without running anything (a value
    the shell fills in, ``$VAR``, stands for a valid one; prompted options may be left out)."""
    args = ["1" if "$" in word else word for word in words]
    command: typer.core.TyperCommand | TyperGroup = typer.main.get_command(app)  # type: ignore[assignment]
    ctx = command.make_context("tokend", args)
    while isinstance(command, TyperGroup) and (rest := [*ctx._protected_args, *ctx.args]):
        name, found, rest = command.resolve_command(ctx, rest)
        assert found is not None, name
        command = found  # type: ignore[assignment]
        prompted = [p for p in command.params if isinstance(p, TyperOption) and p.prompt]
        for param in prompted:
            param.prompt = None
        try:
            ctx = command.make_context(str(name), rest, parent=ctx)
        except MissingParameter as exc:
            if exc.param not in prompted:
                raise
            return ctx
        finally:
            for param in prompted:
                param.prompt = True  # type: ignore[assignment]
    return ctx


def test_the_recipes_have_commands() -> None:
    recipes = {path.stem for path in RECIPES.glob("*.md") if shell_commands(path, "tokend")}
    assert {"fastapi-guard", "kong"} <= recipes


@pytest.mark.parametrize("words", CASES)
def test_a_recipe_command_is_one_tokend_takes(words: list[str]) -> None:
    ctx = parse(words)
    assert ctx.command is not None


def test_the_check_refuses_an_unknown_option_and_a_bad_value() -> None:
    with pytest.raises(Exception, match="No such option"):
        parse(["clients", "create", "--name", "x", "--colour", "blue"])
    with pytest.raises(Exception, match="valid integer"):
        parse(["serve", "--port", "eighty"])
