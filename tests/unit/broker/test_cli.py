"""``tokend telco lookup|list|validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.broker.test_directory import SEED_YAML
from tokend.cli.main import app

runner = CliRunner()
#: The seed's operators are plain-http hosts of an internal network, allowed by this setting.
ALLOWED = {"TOKEND_BROKER__ALLOWED_UPSTREAM_HOSTS": '["telco-orange", "telco-vodafone"]'}


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "telco.yaml"
    path.write_text(SEED_YAML)
    return path


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["972", "0501234567"], "972050"),
        (["972", "0527464600"], "97205"),
        (["+447700900123"], "4477"),
    ],
)
def test_lookup_prints_the_longest_prefix(seed_file: Path, args: list[str], prefix: str) -> None:
    result = runner.invoke(
        app, ["telco", "lookup", *args, "--file", str(seed_file), "--json"], env=ALLOWED
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["prefix"] == prefix
    assert body["client_secret"] == "********"


def test_lookup_exits_1_when_nothing_matches(seed_file: Path) -> None:
    result = runner.invoke(
        app, ["telco", "lookup", "1", "2125550100", "--file", str(seed_file)], env=ALLOWED
    )
    assert result.exit_code == 1
    assert "no operator for 12125550100" in result.output


def test_lookup_refuses_malformed_input(seed_file: Path) -> None:
    result = runner.invoke(
        app, ["telco", "lookup", "ABCD", "05", "--file", str(seed_file)], env=ALLOWED
    )
    assert result.exit_code == 2
    assert "MCC must be between 1 to 3 digits" in result.output


def test_list_prints_every_prefix(seed_file: Path) -> None:
    result = runner.invoke(app, ["telco", "list", "--file", str(seed_file)], env=ALLOWED)
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["4477", "97205", "972050"]
    assert "SECRET" not in result.stdout


def test_validate_accepts_the_seed_file(seed_file: Path) -> None:
    result = runner.invoke(app, ["telco", "validate", str(seed_file)], env=ALLOWED)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{seed_file}: ok, 3 prefixes"


def test_validate_checks_the_file_against_the_brokers_settings(seed_file: Path) -> None:
    # Item 1: without the setting that allows them, the seed's plain-http hosts are refused.
    result = runner.invoke(app, ["telco", "validate", str(seed_file)])
    assert result.exit_code == 1
    assert "'http://telco-orange:8080' must use https" in result.output


def test_validate_lists_each_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEED_YAML.replace("4477:", "44x77:").replace("http://telco-orange:8080", "x"))
    result = runner.invoke(app, ["telco", "validate", str(path)], env=ALLOWED)
    assert result.exit_code == 1
    assert f"{path}:3: prefix 97205: base_url 'x' is not an absolute http(s) URL" in result.output
    assert f"{path}:10: prefix 44x77: prefix '44x77' must be digits only" in result.output


def test_lookup_without_a_directory_file_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKEND_BROKER__DIRECTORY_FILE", raising=False)
    result = runner.invoke(app, ["telco", "lookup", "972", "05"])
    assert result.exit_code == 2
    assert "TOKEND_BROKER__DIRECTORY_FILE" in result.output
