"""``tokend telco lookup|list|validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TEST_SECRET_KEY
from tests.unit.broker.test_directory import SEED_YAML
from tokend.cli.main import app

runner = CliRunner()
#: The seed's operators are plain-http hosts of an internal network, allowed by this setting.
ALLOWED = {"TOKEND_HTTP__ALLOW_HOSTS": "telco-orange,telco-vodafone"}


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
    assert "'http://telco-orange:8080' refused: plain http is allowed only" in result.output


def test_validate_lists_each_problem_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEED_YAML.replace("4477:", "44x77:").replace("http://telco-orange:8080", "x"))
    result = runner.invoke(app, ["telco", "validate", str(path)], env=ALLOWED)
    assert result.exit_code == 1
    assert f"{path}:3: prefix 97205: base_url 'x' is not an absolute http(s) URL" in result.output
    assert f"{path}:10: prefix 44x77: prefix '44x77' must be digits only" in result.output


def test_with_no_file_configured_lookup_reads_the_demo_directory_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKEND_BROKER__DIRECTORY_FILE", raising=False)
    # Right after `make run`: the demo server routes 972 050… to Vodafone; so does the CLI.
    result = runner.invoke(app, ["telco", "lookup", "972", "0501234567", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["operator_id"] == "vodafone"
    assert "reading the demo directory" in result.stderr
    listed = runner.invoke(app, ["telco", "list"])
    assert [line.split()[1] for line in listed.stdout.splitlines()] == [
        "vodafone-uk", "orange", "vodafone"
    ]  # fmt: skip


def test_demo_reads_the_demo_directory_even_with_a_file_configured(seed_file: Path) -> None:
    env = {**ALLOWED, "TOKEND_BROKER__DIRECTORY_FILE": str(seed_file)}
    configured = runner.invoke(app, ["telco", "lookup", "972", "0501234567", "--json"], env=env)
    assert json.loads(configured.stdout)["token_url"].startswith("http://telco-vodafone")
    assert "demo" not in configured.stderr
    demo = runner.invoke(app, ["telco", "lookup", "972", "0501234567", "--demo", "--json"], env=env)
    assert demo.exit_code == 0, demo.output
    assert "/telcos/vodafone/" in json.loads(demo.stdout)["token_url"]
    both = runner.invoke(app, ["telco", "list", "--demo", "--file", str(seed_file)], env=env)
    assert both.exit_code == 2


def test_production_never_falls_back_to_the_demo_directory_and_says_how_to_set_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKEND_BROKER__DIRECTORY_FILE", raising=False)
    env = {"TOKEND_ENV": "production", "TOKEND_SECRET_KEY": TEST_SECRET_KEY}
    result = runner.invoke(app, ["telco", "lookup", "972", "0501234567"], env=env)
    assert result.exit_code == 2
    assert "no directory file" in result.stderr
    assert "TOKEND_BROKER__DIRECTORY_FILE" in result.stderr


def test_validate_piped_prints_no_bar_and_a_summary_of_the_problems(tmp_path: Path) -> None:
    lines = ["prefixes:"]
    for n in range(200):
        lines += [
            f'  "3{n:04d}":',
            f"    operator_id: op{n}",
            "    base_url: x",
            "    adapter: seed",
        ]
    path = tmp_path / "large.yaml"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["telco", "validate", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    problems = result.stderr.splitlines()
    assert problems[-1] == f"{path}: {len(problems) - 1} problem(s) in 200 prefixes"
    assert "%" not in result.stderr  # no progress bar in a pipe
