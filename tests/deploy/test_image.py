"""The Dockerfile and .dockerignore, read statically (no Docker engine runs here): multi-stage,
slim non-root runtime without build tools, `tokend` entrypoint, /health healthcheck, and a build
context that holds exactly what the build copies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tests.deploy.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|git|curl|wget)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    found: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not found and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(base, alias))
        elif found:
            found[-1].instructions.append((keyword, rest))
    return found


def test_the_image_is_built_in_stages_and_runs_slim_and_non_root() -> None:
    build, runtime = stages()
    assert build.name == "build"
    assert runtime.base.startswith("python:3.11")
    assert "slim" in runtime.base
    assert any(BUILD_TOOLS.search(run) for run in build.all("RUN")), "the build stage compiles"
    for run in runtime.all("RUN"):
        assert "apt-get install" not in run
        assert not BUILD_TOOLS.search(run), run
    assert any(copy.startswith("--from=build ") for copy in runtime.all("COPY"))
    (user,) = runtime.all("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert runtime.all("ARG") == ["TOKEND_UID=10001"]
    assert "10001" in user or "${TOKEND_UID}" in user


def test_tokend_is_the_entrypoint_and_health_is_checked() -> None:
    runtime = stages()[-1]
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["tokend"]
    (command,) = runtime.all("CMD")
    assert json.loads(command) == ["serve"]
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert "/health" in healthcheck
    assert "TOKEND_SERVER__PORT" in healthcheck  # each role's own port
    env = " ".join(runtime.all("ENV"))
    assert "TOKEND_SERVER__HOST=0.0.0.0" in env


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is excluded first, then only these are let back in.
    assert rules[0] == "**"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "README.md",
        "src",
        "packages/guard",
        "requirements/runtime.txt",
        "requirements/build.txt",
    }
    copied: set[str] = set()
    for stage in stages():
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            *sources, _ = copy.split()
            copied.update(source.rstrip("/") for source in sources)
    assert copied == allowed
    for path in allowed:
        assert (REPO / path).exists(), path


def test_the_image_installs_the_locked_versions_and_then_tokend_without_resolving() -> None:
    build = stages()[0]
    runs = build.all("RUN")
    locked = [r for r in runs if "pip install --require-hashes -r requirements/runtime.txt" in r]
    assert len(locked) == 1
    # The wheels (tokend-guard and tokend) go in afterwards, with no dependency resolution, built
    # by the locked build backend without fetching one.
    (project,) = [r for r in runs if "pip wheel" in r]
    assert "--no-build-isolation" in project
    assert "./packages/guard ." in project
    assert "pip install --no-deps /build/wheels/*.whl" in project
    assert runs.index(locked[0]) < runs.index(project)
    assert any("pip install --require-hashes -r requirements/build.txt" in r for r in runs)
