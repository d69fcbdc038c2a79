"""``tokend keys`` under a stand-in root command that loads the test Settings."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tokend.cli import keys as keys_cli
from tokend.config import Settings


@pytest.fixture
def cli(settings: Settings) -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def load(ctx: typer.Context) -> None:
        ctx.obj = settings

    root.add_typer(keys_cli.app, name="keys")
    return root


def _keys(cli: typer.Typer) -> list[dict[str, str]]:
    result = CliRunner().invoke(cli, ["keys", "list", "--json"])
    assert result.exit_code == 0, result.output
    keys: list[dict[str, str]] = json.loads(result.stdout)
    return keys


def _active(keys: list[dict[str, str]], alg: str) -> str:
    return next(k["kid"] for k in keys if k["alg"] == alg and k["state"] == "active")


def test_rotate_makes_the_next_key_active_and_list_shows_it(cli: typer.Typer) -> None:
    CliRunner().invoke(cli, ["keys", "rotate", "--alg", "RS256"])  # make sure keys exist
    before = _keys(cli)
    next_kid = next(k["kid"] for k in before if k["alg"] == "RS256" and k["state"] == "next")

    result = CliRunner().invoke(cli, ["keys", "rotate", "--alg", "RS256"])

    assert result.exit_code == 0, result.output
    assert f"{next_kid} is now active" in result.stdout
    after = _keys(cli)
    assert _active(after, "RS256") == next_kid
    assert {k["kid"]: k["state"] for k in after}[_active(before, "RS256")] == "retired"


def test_retire_takes_a_kid_and_reports_unknown_ones(cli: typer.Typer) -> None:
    CliRunner().invoke(cli, ["keys", "rotate", "--alg", "ES256"])
    active = _active(_keys(cli), "ES256")

    result = CliRunner().invoke(cli, ["keys", "retire", active])

    assert result.exit_code == 0, result.output
    assert {k["kid"]: k["state"] for k in _keys(cli)}[active] == "retired"
    unknown = CliRunner().invoke(cli, ["keys", "retire", "no-such-kid"])
    assert unknown.exit_code == 1
    assert "no signing key no-such-kid" in unknown.stderr


def test_rotate_refuses_algorithms_the_keyring_does_not_generate(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["keys", "rotate", "--alg", "HS256"])
    assert result.exit_code == 2


def test_remove_deletes_a_retired_key_and_refuses_active_and_next_ones(cli: typer.Typer) -> None:
    CliRunner().invoke(cli, ["keys", "rotate", "--alg", "ES256"])
    retired = _active(_keys(cli), "ES256")
    CliRunner().invoke(cli, ["keys", "retire", retired])

    result = CliRunner().invoke(cli, ["keys", "remove", retired])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{retired} is removed\n"
    keys = _keys(cli)
    assert retired not in {k["kid"] for k in keys}
    signing = [k for k in keys if k["alg"] == "ES256" and k["state"] != "retired"]
    assert sorted(k["state"] for k in signing) == ["active", "next"]
    for key in signing:
        refused = CliRunner().invoke(cli, ["keys", "remove", key["kid"]])
        assert refused.exit_code == 2
        assert refused.stderr == (
            f"tokend: key {key['kid']} is {key['state']}; only retired keys can be removed\n"
        )
    assert _keys(cli) == keys  # nothing else went
    unknown = CliRunner().invoke(cli, ["keys", "remove", "no-such-kid"])
    assert unknown.exit_code == 1
    assert "no signing key no-such-kid" in unknown.stderr
