"""Shared helpers of the deployment tests: paths, metric names in PromQL, settings walking."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel

from tokend.broker.settings import DIRECTORY_SECRET_PREFIX
from tokend.config import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

#: Metric names tokend exports (spine, capabilities, seed 003's identity_* events).
TOKEND_METRIC = re.compile(r"\b((?:tokend|http|identity)_[a-z0-9_]+)")


def run(
    command: list[str],
    *,
    cwd: Path = REPO,
    timeout_s: float = 60,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``command`` (with ``env`` added to the environment); fail the test with its output
    when it exits non-zero."""
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env={**os.environ, **env} if env is not None else None,
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def unknown_setting(variable: str) -> str | None:
    """Why ``TOKEND_…`` names no setting (a typo pydantic-settings would silently ignore)."""
    if variable.startswith(DIRECTORY_SECRET_PREFIX):
        return None  # read into broker.directory_secrets by the settings
    parts = variable.removeprefix("TOKEND_").lower().split("__")
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        field = _field(model, part)
        if field is None:
            return f"{variable}: {model.__name__} has no field {part!r}"
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif depth != len(parts) - 1:
            return f"{variable}: {part!r} is not a settings block"
    return None


def _field(model: type[BaseModel], name: str) -> Any:
    if name in model.model_fields:
        return model.model_fields[name]
    for field in model.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and name in {str(c).lower() for c in alias.choices}:
            return field
    return None
