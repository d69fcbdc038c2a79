"""The lock files in requirements/: make them (``make lock``) or check them (``make lint``).

Each is a pip requirements file with every package pinned and hashed, for Linux x86_64 and
CPython 3.11 (the Dockerfile's and CI's platform), installed with ``pip install
--require-hashes``:

    requirements/runtime.txt  tokend's dependencies and tokend-guard's: the Docker image
    requirements/dev.txt      those and the dev extra (tests, linters, uv, hatchling): make, CI
    requirements/guard.txt    tokend-guard's alone: a resource server's known-good set
    requirements/build.txt    the build backend ([build-system] requires): wheels in the image

uv resolves them (``uv pip compile``). dev.txt is resolved first and constrains the others, so
a package has one version everywhere; a package already pinned keeps its version unless
``--upgrade`` is given. tokend-guard is built from packages/guard, never fetched, so it is left
out of the files. Each file records a digest of what it was made from (both pyproject.toml
dependency lists, the build requirements, the platform); ``--check`` recomputes it, offline,
so a dependency added to pyproject.toml without ``make lock`` fails the lint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
LOCKS: Final = REPO / "requirements"
PYPROJECT: Final = REPO / "pyproject.toml"
GUARD_PYPROJECT: Final = REPO / "packages" / "guard" / "pyproject.toml"
PYTHON_VERSION: Final = "3.11"
PLATFORM: Final = "x86_64-unknown-linux-gnu"
DIGEST_LINE: Final = re.compile(r"^# inputs: sha256:([0-9a-f]{64})$", re.M)
PIN: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)", re.M)


@dataclass(frozen=True, slots=True)
class Lock:
    name: str
    #: uv pip compile's inputs and options, besides the shared ones.
    args: tuple[str, ...]

    @property
    def path(self) -> Path:
        return LOCKS / self.name


DEV: Final = Lock("dev.txt", ("pyproject.toml", "--extra", "dev"))
#: Constrained by dev.txt: the same versions as the tests ran with.
CONSTRAINED: Final = (
    Lock("runtime.txt", ("pyproject.toml",)),
    Lock("guard.txt", ("packages/guard/pyproject.toml",)),
)
BUILD: Final = Lock("build.txt", ())
ALL: Final = (DEV, *CONSTRAINED, BUILD)


def inputs() -> dict[str, Any]:
    """What the locks are made from: a change here needs ``make lock``."""
    root = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    guard = tomllib.loads(GUARD_PYPROJECT.read_text(encoding="utf-8"))
    return {
        "python": PYTHON_VERSION,
        "platform": PLATFORM,
        "tokend": {
            "requires-python": root["project"]["requires-python"],
            "dependencies": root["project"]["dependencies"],
            "optional-dependencies": root["project"].get("optional-dependencies", {}),
            "sources": root.get("tool", {}).get("uv", {}).get("sources", {}),
        },
        "tokend-guard": {
            "requires-python": guard["project"]["requires-python"],
            "dependencies": guard["project"]["dependencies"],
        },
        "build": sorted({*root["build-system"]["requires"], *guard["build-system"]["requires"]}),
    }


def digest() -> str:
    text = json.dumps(inputs(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pins(text: str) -> dict[str, str]:
    """Package name (normalised) -> pinned version, from a requirements file's text."""
    return {re.sub(r"[-_.]+", "-", m[1]).lower(): m[2] for m in PIN.finditer(text)}


def problems() -> list[str]:
    """Why the lock files do not match the pyproject files; empty when they do."""
    found: list[str] = []
    expected = digest()
    texts: dict[str, str] = {}
    for lock in ALL:
        if not lock.path.is_file():
            found.append(f"{lock.path.relative_to(REPO)} is missing: run `make lock`")
            continue
        text = texts[lock.name] = lock.path.read_text(encoding="utf-8")
        recorded = DIGEST_LINE.search(text)
        if recorded is None or recorded[1] != expected:
            found.append(
                f"{lock.path.relative_to(REPO)} was not made from pyproject.toml and "
                "packages/guard/pyproject.toml as they are: run `make lock`"
            )
        unhashed = [name for name, block in _blocks(text) if "--hash=sha256:" not in block]
        if unhashed:
            found.append(f"{lock.path.relative_to(REPO)}: no hash for {', '.join(unhashed)}")
    dev = pins(texts.get(DEV.name, ""))
    for lock in CONSTRAINED:
        for name, version in pins(texts.get(lock.name, "")).items():
            if dev.get(name, version) != version:
                found.append(f"{lock.name} pins {name}=={version}, dev.txt {name}=={dev[name]}")
    return found


def _blocks(text: str) -> list[tuple[str, str]]:
    """(package, its lines) for each pinned requirement."""
    starts = list(PIN.finditer(text))
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return [(m[1], text[m.start() : end]) for m, end in zip(starts, ends, strict=True)]


def compile_all(upgrade: bool) -> None:
    LOCKS.mkdir(exist_ok=True)
    stamp = f"# inputs: sha256:{digest()}\n"
    _compile(DEV, (), upgrade, stamp)
    for lock in CONSTRAINED:
        _compile(lock, ("--constraint", str(DEV.path.relative_to(REPO))), upgrade, stamp)
    # The build requirements come on standard input ("-"): they live in pyproject.toml.
    build_in = "\n".join(inputs()["build"]) + "\n"
    constraint = ("-", "--constraint", str(DEV.path.relative_to(REPO)))
    _compile(BUILD, constraint, upgrade, stamp, stdin=build_in)


def _compile(
    lock: Lock, extra: tuple[str, ...], upgrade: bool, stamp: str, stdin: str | None = None
) -> None:
    uv = Path(sys.executable).with_name("uv")
    command = [
        str(uv), "pip", "compile", *lock.args, *extra,
        "--generate-hashes",
        "--python-version", PYTHON_VERSION,
        "--python-platform", PLATFORM,
        "--no-emit-package", "tokend-guard",
        "--custom-compile-command", "make lock",
        "--output-file", str(lock.path.relative_to(REPO)),
        "--quiet",
        *(("--upgrade",) if upgrade else ()),
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, check=True, input=stdin, text=True)  # noqa: S603
    text = lock.path.read_text(encoding="utf-8")
    text = DIGEST_LINE.sub("", text).rstrip("\n") + "\n"
    head, _, rest = text.partition("\n#    make lock\n")
    lock.path.write_text(f"{head}\n#    make lock\n{stamp}{rest}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(prog=".ci/lock.py", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail when a lock is out of date")
    mode.add_argument("--upgrade", action="store_true", help="newest versions the ranges allow")
    args = parser.parse_args()
    if args.check:
        found = problems()
        for line in found:
            print(f"lock: {line}", file=sys.stderr)
        raise SystemExit(1 if found else 0)
    compile_all(upgrade=args.upgrade)


if __name__ == "__main__":
    main()
