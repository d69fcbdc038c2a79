"""docs/recipes/production.md holds: its settings pass production's checks, its units run
commands tokend has, its Kubernetes steps name what deploy/k8s/ holds."""

from __future__ import annotations

import os
import re
import secrets
import shlex
from pathlib import Path

import pytest
import yaml

from tests.recipes import RECIPES, code_blocks, shell_commands
from tests.unit.cli.test_recipe_commands import parse
from tokend.config import Settings

RECIPE = RECIPES / "production.md"
REPO = RECIPES.parents[1]
K8S = REPO / "deploy" / "k8s"


def _block(first_line: str) -> str:
    (block,) = [b for b in code_blocks(RECIPE, "ini") if b.startswith(first_line)]
    return block


def _manifests() -> list[dict[str, object]]:
    return [
        doc
        for path in sorted(K8S.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and "metadata" in doc  # not the kustomization files
    ]


def test_the_environment_file_passes_productions_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [n for n in os.environ if n.startswith("TOKEND_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of this checkout
    values = {}
    for line in _block("# /etc/tokend/tokend.env").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            # What the recipe tells the operator to do with each CHANGE-ME.
            value = re.sub(r"CHANGE-ME[\w-]*", lambda _: secrets.token_urlsafe(48), value)
            values[name] = value
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.is_production
    assert settings.production_problems() == []
    assert settings.modules == ["oidc", "vault", "guard"]
    assert settings.jobs.backend == "redis"
    # As written, the placeholders are refused: nobody runs production on them by mistake.
    monkeypatch.setenv("TOKEND_SECRET_KEY", "CHANGE-ME-48-random-characters-from-secrets-token")
    assert Settings().production_problems()


@pytest.mark.parametrize("unit", ["tokend.service", "tokend-worker.service"])
def test_the_units_run_tokend_commands(unit: str) -> None:
    text = _block(f"# /etc/systemd/system/{unit}")
    assert "EnvironmentFile=/etc/tokend/tokend.env" in text
    lines = [line for line in text.splitlines() if line.startswith(("ExecStart=", "ExecStartPre="))]
    assert lines
    for line in lines:
        program, *words = shlex.split(line.partition("=")[2])
        assert program == "/opt/tokend/bin/tokend"
        assert parse(words).command is not None


def test_the_install_uses_the_lock_file() -> None:
    commands = shell_commands(RECIPE, "/opt/tokend/bin/pip")
    (locked,) = [c for c in commands if "--require-hashes" in c]
    assert (REPO / locked[locked.index("-r") + 1]).is_file()


def test_the_kubernetes_steps_name_what_deploy_k8s_holds() -> None:
    commands = [" ".join(c) for c in shell_commands(RECIPE, "kubectl")]
    manifests = _manifests()
    kinds = {(str(m["kind"]), str(m["metadata"]["name"])) for m in manifests}  # type: ignore[index]
    assert ("Job", "tokend-migrate") in kinds
    assert ("Deployment", "tokend") in kinds
    assert any("job/tokend-migrate" in c for c in commands)
    assert any("deployment/tokend" in c for c in commands)
    (apply,) = [c for c in commands if c.startswith("apply -k ")]
    assert (REPO / apply.removeprefix("apply -k ")).is_dir()
    needed = set(re.findall(r"key: ([a-z-]+)[,}]", "\n".join(
        p.read_text() for p in (K8S / "base").glob("*.yaml")
    )))  # fmt: skip
    (secret,) = [c for c in commands if "create secret generic tokend-secrets" in c]
    given = set(re.findall(r"--from-literal=([a-z-]+)=", secret))
    assert needed - given == {"previous-secret-keys"}  # optional: only during a rotation
    for command in commands:
        if " exec deploy/tokend -- tokend " in command:
            words = shlex.split(command.partition(" -- tokend ")[2])
            assert parse(words).command is not None
