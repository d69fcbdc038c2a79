"""How tokend is packaged: two wheels from one src/ tree, lock files that match the pyproject
files, and one version (pyproject.toml's) everywhere."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
GUARD_PYPROJECT = REPO / "packages" / "guard" / "pyproject.toml"

#: What the full server needs and a resource server using tokend.guard must not load.
SERVER_ONLY = (
    "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "saq", "redis", "granian", "uvicorn",
    "opentelemetry.sdk", "argon2", "pwdlib", "typer", "limits", "jinja2", "yaml",
    "tokend.store", "tokend.cache", "tokend.obs", "tokend.jobs", "tokend.config",
    "tokend.runtime",
)  # fmt: skip


def _lock_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_tool", REPO / ".ci" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lock_tool"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tokend and tokend-guard wheels, built offline by the venv's hatchling."""
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(out), str(REPO), str(REPO / "packages" / "guard")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def wheels(built: Path) -> dict[str, set[str]]:
    """File names in each wheel, by distribution; under ``"names"``, the wheels' own."""
    files: dict[str, set[str]] = {"names": {wheel.name for wheel in built.glob("*.whl")}}
    for wheel in built.glob("*.whl"):
        name = wheel.name.split("-")[0]
        with zipfile.ZipFile(wheel) as archive:
            files[name] = {n for n in archive.namelist() if not n.startswith(f"{name}-")}
    return files


def test_the_lock_files_were_made_from_the_pyproject_files_as_they_are() -> None:
    assert _lock_tool().problems() == []


def test_a_dependency_added_without_make_lock_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _lock_tool()
    changed = tmp_path / "pyproject.toml"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    changed.write_text(text.replace("dependencies = [\n", 'dependencies = [\n  "authlib",\n', 1))
    monkeypatch.setattr(lock, "PYPROJECT", changed)
    problems = lock.problems()
    assert len(problems) == len(lock.ALL)
    assert all(p.endswith("run `make lock`") for p in problems)


def test_every_source_file_is_in_exactly_one_of_the_two_wheels(
    wheels: dict[str, set[str]],
) -> None:
    tree = {
        str(path.relative_to(SRC))
        for path in (SRC / "tokend").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    server, guard = wheels["tokend"], wheels["tokend_guard"]
    assert server & guard == set()
    assert server | guard == tree
    assert "tokend/guard/validator.py" in guard
    assert "tokend/guard/capability.py" in server


def test_the_guard_wheel_alone_imports_and_loads_none_of_the_server(
    built: Path, wheels: dict[str, set[str]], tmp_path: Path
) -> None:
    # The guard wheel unpacked first on the path: `tokend` is its package, so a module the guard
    # needs but the wheel lacks fails to import here, as it would in a resource server.
    (wheel,) = built.glob("tokend_guard-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    modules = sorted(
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in wheels["tokend_guard"]
        if name.endswith(".py")
    )
    probe = f"""
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
from tokend.guard import Guard, JWTValidator, TrustedIssuer
Guard(JWTValidator([TrustedIssuer("https://issuer.example", jwks={{"keys": []}})]))
assert sys.modules["tokend"].__file__.startswith({str(tmp_path)!r}), sys.modules["tokend"].__file__
print(json.dumps(sorted(sys.modules)))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = set(json.loads(done.stdout))
    assert {m for m in SERVER_ONLY if m in loaded} == set()


def test_one_version_for_tokend_tokend_guard_and_the_cli(wheels: dict[str, set[str]]) -> None:
    version = PYPROJECT["project"]["version"]
    tag = "py3-none-any.whl"
    assert wheels["names"] == {f"tokend-{version}-{tag}", f"tokend_guard-{version}-{tag}"}
    assert f"tokend-guard=={version}" in PYPROJECT["project"]["dependencies"]
    guard = tomllib.loads(GUARD_PYPROJECT.read_text(encoding="utf-8"))
    assert guard["project"]["dynamic"] == ["version"]
    assert guard["tool"]["hatch"]["version"]["path"] == "../../pyproject.toml"
    printed = subprocess.run(
        [sys.executable, "-m", "tokend", "version"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert printed.stdout.strip() == version
