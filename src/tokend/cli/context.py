"""How commands get their Settings: built once in the root callback, kept on the Typer context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from tokend.config import Settings

EXIT_CONFIG = 2


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    typer.secho(f"tokend: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def build_settings(config_file: Path | None, **overrides: Any) -> Settings:
    """Settings from flags, environment and config file; exit 2 with one line per problem."""
    init: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if config_file is not None:
        init["config_file"] = config_file
    try:
        settings = Settings(**init)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            typer.secho(f"tokend: invalid setting {where}: {err['msg']}", err=True, fg="red")
        raise typer.Exit(EXIT_CONFIG) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    return settings


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise fail("settings were not loaded")
    return settings


def require_production_ready(settings: Settings) -> None:
    problems = settings.production_problems()
    for problem in problems:
        typer.secho(f"tokend: {problem}", err=True, fg=typer.colors.RED)
    if problems:
        raise typer.Exit(EXIT_CONFIG)
